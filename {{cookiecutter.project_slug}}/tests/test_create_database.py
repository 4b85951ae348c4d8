"""``python -m app create-database``: the database of DATABASE_URL, made once."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url

from app.create_database import create_database
from tests import database
from tests.cli import cli, cli_process
from tests.database import UNREACHABLE_URL


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
        result = cli(url, "create-database")
    finally:
        database.drop(url)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""


def test_an_unreachable_database_is_one_error_line() -> None:
    # A process of its own: nothing else, a warning at exit say, reaches stderr.
    result = cli_process(UNREACHABLE_URL, "create-database")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot create the database")
    assert len(result.stderr.splitlines()) == 1
