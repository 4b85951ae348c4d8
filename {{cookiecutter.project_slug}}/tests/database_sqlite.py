"""Test databases on SQLite: one file per database."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

# This project's driver on a file that cannot be opened: a route that answers
# with it never touched the database.
UNREACHABLE_URL = "sqlite+aiosqlite:////nonexistent/dir/x.db"
_ROOT = Path(tempfile.mkdtemp(prefix="app-tests-"))
_numbers = itertools.count()


def _new_path() -> Path:
    return _ROOT / f"db{next(_numbers)}.sqlite"


def create_empty() -> str:
    """Return the URL of a new, empty database."""
    return f"sqlite+aiosqlite:///{_new_path()}"


def clone(template_url: str) -> str:
    """Return the URL of a new database holding a copy of ``template_url``."""
    path = _new_path()
    shutil.copyfile(_path(template_url), path)
    return f"sqlite+aiosqlite:///{path}"


def drop(url: str) -> None:
    """Delete the database at ``url``."""
    path = _path(url)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite+aiosqlite:///"))
