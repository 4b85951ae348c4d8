"""Fixtures of the template's tests: cookiecutter config, hooks, caches."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from helpers import CACHE_DIR, TEMPLATE_DIR, answers, load_hook


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
