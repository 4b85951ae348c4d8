"""Fixtures of the template's tests: cookiecutter config, hooks, the shared venv."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.main import cookiecutter
from filelock import FileLock

from helpers import TEMPLATE_DIR, answers, combination_id, combinations, load_hook, run

CACHE_DIR = TEMPLATE_DIR / ".cache"
VENV_MARKER = ".requirements-sha256"
# Creating the shared venv downloads and installs every project dependency.
VENV_TIMEOUT = 900


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest-cookies at this template wherever pytest was started from."""
    config.option.template = str(TEMPLATE_DIR)
    # The template's Jinja extensions (``_extensions``) live in its root; the
    # cookiecutter CLI puts that on sys.path, the API calls used here do not.
    if str(TEMPLATE_DIR) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_DIR))


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a cookiecutter config file that keeps replays out of the home folder."""
    user_dir = tmp_path_factory.mktemp("cookiecutter-user")
    config = {
        "cookiecutters_dir": str(user_dir / "cookiecutters"),
        "replay_dir": str(user_dir / "replay"),
    }
    path = user_dir / "config.yaml"
    # JSON is valid YAML, so no YAML writer is needed.
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def post_hook(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Return the post-generation hook rendered with the default answers."""
    return load_hook("post_gen_project", answers(), tmp_path_factory.mktemp("hook"))


@pytest.fixture(scope="session")
def pre_commit_home() -> Path:
    """Return the pre-commit cache shared by every generated project."""
    path = Path(os.environ.get("PRE_COMMIT_HOME") or CACHE_DIR / "pre-commit")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def projects_venv(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """Return the one venv holding every combination's runtime and dev deps."""
    requirements = project_requirements(
        tmp_path_factory.mktemp("requirements"), cookiecutter_config
    )
    path = Path(os.environ.get("PROJECTS_VENV") or CACHE_DIR / "projects-venv")
    return ensure_venv(path.resolve(), requirements)


def project_requirements(output_dir: Path, config_file: Path) -> list[str]:
    """Return the union of the dependencies of every combination, sorted."""
    requirements: set[str] = set()
    baked = 0
    for combination in combinations():
        try:
            project = cookiecutter(
                str(TEMPLATE_DIR),
                no_input=True,
                extra_context=combination,
                output_dir=str(output_dir / combination_id(combination)),
                config_file=str(config_file),
            )
        except Exception:
            # That combination's own bake test reports the failure.
            continue
        baked += 1
        pyproject = tomllib.loads(Path(project, "pyproject.toml").read_text("utf-8"))
        requirements.update(declared_requirements(pyproject))
    if not baked:
        pytest.fail("no combination of options bakes: no venv for the projects")
    return sorted(requirements)


def declared_requirements(pyproject: dict[str, Any]) -> Iterable[str]:
    """Yield a project's runtime requirements and those of its dev extra."""
    project = pyproject.get("project", {})
    yield from project.get("dependencies", [])
    yield from project.get("optional-dependencies", {}).get("dev", [])
    groups = pyproject.get("dependency-groups", {}).get("dev", [])
    yield from (entry for entry in groups if isinstance(entry, str))


def ensure_venv(path: Path, requirements: list[str]) -> Path:
    """Create the venv at ``path`` once; skip it when its requirements are met."""
    digest = hashlib.sha256(
        "\n".join([sys.version, *requirements]).encode("utf-8")
    ).hexdigest()
    marker = path / VENV_MARKER
    path.parent.mkdir(parents=True, exist_ok=True)
    # Every xdist worker asks for the venv; the first one builds it, the rest wait.
    with FileLock(f"{path}.lock", timeout=2 * VENV_TIMEOUT):
        if marker.is_file() and marker.read_text(encoding="utf-8") == digest:
            return path
        _create_venv(path)
        requirements_file = path / "requirements.txt"
        requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        pip = [venv_python(path), "-m", "pip", "--disable-pip-version-check"]
        run(
            [*pip, "install", "--quiet", "--requirement", requirements_file],
            cwd=path,
            timeout=VENV_TIMEOUT,
        )
        marker.write_text(digest, encoding="utf-8")
    return path


def _create_venv(path: Path) -> None:
    """Make an empty venv at ``path``, replacing an outdated one."""
    if (path / "pyvenv.cfg").is_file():
        shutil.rmtree(path)
    elif path.exists() and any(path.iterdir()):
        pytest.fail(f"{path} is not a venv and not empty: refusing to replace it")
    run([sys.executable, "-m", "venv", path], cwd=path.parent, timeout=300)


def venv_python(venv: Path) -> Path:
    """Return the interpreter of a venv."""
    return venv / "bin" / "python"
