"""``python -m app create-database``: the database of DATABASE_URL, made once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy.engine import make_url

from app.create_database import create_database
from tests import database
from tests.database import UNREACHABLE_URL
from tests.servers import PROJECT_ROOT


def _command(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "create-database"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_database_is_created_once() -> None:
    url = database.create_empty()
    database.drop(url)
    try:
        first = asyncio.run(create_database(url))
        second = asyncio.run(create_database(url))
    finally:
        database.drop(url)
    if make_url(url).get_backend_name() == "sqlite":
        assert first == second
        assert "nothing to do" in first
    else:
        assert first == f"created database {make_url(url).database}"
        assert second.endswith("exists already")


def test_the_command_prints_one_line() -> None:
    url = database.create_empty()
    database.drop(url)
    try:
        result = _command(url)
    finally:
        database.drop(url)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""


def test_an_unreachable_database_is_one_error_line() -> None:
    result = _command(UNREACHABLE_URL)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot create the database")
    assert len(result.stderr.splitlines()) == 1
