"""A generated project's container image builds, and serves what it promises.

One combination per database (the Dockerfile differs by database alone),
each a class of its own so that xdist runs the two side by side. The image
is built for real with podman; it is started in a chroot of the mounted image
(``deploy.py`` says why and how), as its user, with its environment,
entrypoint and command.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from pytest_cookies.plugin import Cookies

import deploy
import loopback
from conftest import empty_database
from helpers import combination_id, read_pins, run

pytestmark = pytest.mark.image

IMAGE_COMBINATIONS = (
    {"session_strategy": "signed_cookie", "rbac": "roles", "database": "sqlite"},
    {"session_strategy": "jwt", "rbac": "permissions", "database": "postgresql"},
)
# Installed by the venv module itself, not by the project: not in constraints.txt.
VENV_OWN = {"pip", "setuptools"}
# Loaded machines start each worker slowly: importing the app takes seconds.
SERVE_TIMEOUT = 120.0
COMMAND_TIMEOUT = 180.0
ADMIN_EMAIL = "image-admin@example.com"


@pytest.fixture(scope="class")
def baked_project(combo: dict[str, str], cookies_session: Cookies) -> Path:
    """Bake the combination once for its image steps."""
    baked = cookies_session.bake(extra_context=combo)
    assert baked.exception is None, repr(baked.exception)
    return baked.project_path


@pytest.fixture(scope="class")
def image(combo: dict[str, str], baked_project: Path) -> Iterator[deploy.Image]:
    """Build the project's image on the local base image; remove it afterwards."""
    deploy.require_root_and_podman()
    base = deploy.ensure_base_image()
    name = f"localhost/template-test-{combination_id(combo).replace('_', '-')}"
    started = time.monotonic()
    deploy.podman(
        "build",
        "--isolation",
        "chroot",
        # Docker's format keeps HEALTHCHECK, which the OCI format drops.
        "--format",
        "docker",
        "--layers=false",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--tag",
        name,
        os.fspath(baked_project),
        timeout=deploy.BUILD_TIMEOUT,
    )
    try:
        yield deploy.inspect_image(name, time.monotonic() - started)
    finally:
        run(["podman", "rmi", "--force", name], cwd=deploy.CACHE_DIR, check=False)


@pytest.fixture(scope="class")
def root(image: deploy.Image) -> Iterator[Path]:
    """Yield the root of a writable container of the image, mounted on the host."""
    with deploy.mounted(image) as path:
        yield path


@pytest.fixture(scope="class")
def app_env(
    request: pytest.FixtureRequest,
    combo: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """Yield what the operator adds to the image's environment: key, database."""
    env = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        # The contract's production settings for mail: production refuses the
        # console backend. No message is sent by these steps.
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "EMAIL_FROM": "app@example.com",
    }
    if combo["database"] == "sqlite":
        # The image's own DATABASE_URL, in its volume.
        yield env
        return
    directory = tmp_path_factory.mktemp("image-db")
    with empty_database(request, combo, directory) as url:
        yield {**env, "DATABASE_URL": url}


def run_in_image(
    root: Path,
    image: deploy.Image,
    *args: str,
    env: Mapping[str, str],
    check: bool = True,
    stdin: str | None = None,
) -> tuple[int, str]:
    """Run the image's entrypoint with ``args`` (its CMD when none) to the end."""
    command = deploy.in_chroot(
        root, image, deploy.entrypoint_command(image, *args), env
    )
    result = run(
        command,
        cwd=deploy.CACHE_DIR,
        timeout=COMMAND_TIMEOUT,
        check=check,
        input=stdin,
    )
    return result.returncode, result.stdout


class ImageSteps:
    """The steps of one image, in order."""

    def test_image_builds(
        self, image: deploy.Image, request: pytest.FixtureRequest
    ) -> None:
        """The image builds from the generated project; its time and size are shown."""
        figures = f"{image.name}: built in {image.seconds:.0f} s, "
        figures += f"{image.size / 1e6:.0f} MB"
        request.node.add_report_section("call", "image", figures)
        assert image.size > 0

    def test_image_is_configured_for_production(self, image: deploy.Image) -> None:
        """Non-root user, production settings, a healthcheck, workers, no migration."""
        user = image.config.get("User", "")
        assert user, "the image runs as root"
        assert user.split(":")[0] not in {"0", "root"}, user
        assert image.env.get("ENVIRONMENT") == "production", image.env
        assert image.healthcheck, "no HEALTHCHECK in the image"
        assert "/health" in " ".join(image.healthcheck["Test"])
        command = " ".join(deploy.entrypoint_command(image))
        for part in ("uvicorn app.main:app", "--workers", "--no-server-header"):
            assert part in command, command
        assert "alembic" not in command, "the server must not migrate at start"

    def test_installed_versions_are_the_constraints(
        self,
        image: deploy.Image,
        root: Path,
        baked_project: Path,
        app_env: dict[str, str],
    ) -> None:
        """Every distribution in the image is the version constraints.txt pins."""
        pins = read_pins(baked_project / "constraints.txt")
        own = VENV_OWN | {canonicalize_name(baked_project.name)}
        listing = (
            "import importlib.metadata as m, json; print(json.dumps("
            "{d.metadata['Name']: d.version for d in m.distributions()}))"
        )
        _, output = run_in_image(root, image, "python", "-c", listing, env=app_env)
        installed = json.loads(output.strip().splitlines()[-1])
        wrong = {
            name: version
            for name, version in installed.items()
            if canonicalize_name(name) not in own
            and pins.get(canonicalize_name(name)) != version
        }
        assert not wrong, f"not the versions constraints.txt pins: {wrong}"
        assert "fastapi" in {canonicalize_name(name) for name in installed}

    def test_no_env_file_in_the_image(self, root: Path) -> None:
        """``.env`` (the project's secret key) never reaches the image."""
        found = [
            os.fspath(path.relative_to(root))
            for top in ("srv", "opt", "src")
            for path in (root / top).rglob(".env")
        ]
        assert not found, found

    def test_missing_secret_key_stops_it(
        self, image: deploy.Image, root: Path, app_env: dict[str, str]
    ) -> None:
        """Without SECRET_KEY the command exits with the app's own one line."""
        env = {key: value for key, value in app_env.items() if key != "SECRET_KEY"}
        status, output = run_in_image(root, image, env=env, check=False)
        assert status != 0, output
        assert "SECRET_KEY must be set when ENVIRONMENT=production" in output, output
        assert "Traceback" not in output, output

    def test_serves_health_and_login(
        self,
        image: deploy.Image,
        root: Path,
        app_env: dict[str, str],
        combo: dict[str, str],
        tmp_path: Path,
    ) -> None:
        """Migrated and with a user, its command answers /health and /auth/login.

        The migrations and ``create-user`` run as separate commands, as the
        README says; the server is the image's own command on a free port of
        127.0.0.1, and the image's healthcheck command passes against it.
        """
        run_in_image(root, image, "alembic", "upgrade", "head", env=app_env)
        password = secrets.token_urlsafe(24)
        create = ["python", "-m", "app", "create-user", "--email", ADMIN_EMAIL]
        if combo["rbac"] != "none":
            create += ["--role", "admin"]
        run_in_image(root, image, *create, env=app_env, stdin=password + "\n")
        command = deploy.in_chroot(
            root, image, deploy.entrypoint_command(image), app_env
        )
        process, port = loopback.start_uvicorn(
            command,
            cwd=deploy.CACHE_DIR,
            env=os.environ,
            log=tmp_path / "server.log",
            timeout=SERVE_TIMEOUT,
        )
        try:
            status, headers, body = loopback.request(port, "GET", "/health")
            assert status == 200, body
            assert headers.get("Server") is None, "uvicorn announced itself"
            session = loopback.log_in(port, ADMIN_EMAIL, password)
            status, _, body = loopback.request(port, "GET", "/auth/me", headers=session)
            assert status == 200, body
            assert json.loads(body)["email"] == ADMIN_EMAIL
            assert image.healthcheck is not None
            probe = " ".join(image.healthcheck["Test"][1:])
            assert "127.0.0.1:8000" in probe, probe
            probe_here = [
                part.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
                for part in image.healthcheck["Test"][1:]
            ]
            chrooted = deploy.in_chroot(root, image, probe_here, app_env)
            run(chrooted, cwd=deploy.CACHE_DIR, timeout=COMMAND_TIMEOUT)
        finally:
            loopback.stop(process)


def _image_class(combination: dict[str, str]) -> type[ImageSteps]:
    """Return the test class of one combination's image."""
    name = "TestImage" + combination["database"].capitalize()
    steps = type(name, (ImageSteps,), {"__doc__": f"The image of {combination}."})
    parameter = pytest.param(combination, id=combination_id(combination))
    return pytest.mark.parametrize("combo", [parameter], scope="class")(steps)


for _combination in IMAGE_COMBINATIONS:
    _steps = _image_class(_combination)
    globals()[_steps.__name__] = _steps
