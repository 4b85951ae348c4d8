"""The command line, ``python -m app COMMAND``.

Most tests run it in this process (tests/cli.py); a few start the real
``python -m app``, for what only a process shows: the password read from a
pipe, and an error that ends it with one line and a non-zero status.
"""

from __future__ import annotations

import httpx
import pytest

from app.auth.schemas import MeRead
from app.config import Settings
from app.main import create_app, release
from app.state import app_state
from tests.cli import CliResult, cli, cli_async, cli_process
from tests.helpers import PASSWORD, TEST_SECRET_KEY, register

# Whether the project has roles: without them the command line offers none.
HAS_ROLES = "roles" in MeRead.model_fields


def create_user(database_url: str, *args: str, stdin: str) -> CliResult:
    return cli(database_url, "create-user", *args, stdin=stdin)


def test_create_user_reads_the_password_from_stdin(database_url: str) -> None:
    result = cli_process(
        database_url, "create-user", "--email", "ada@example.com", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert "ada@example.com" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "not-an-email"], PASSWORD, "invalid email address"),
        (["--email", "ada@example.com"], "short\n", "at least 8 characters"),
        (["--email", "ada@example.com"], "", "at least 8 characters"),
        *(
            [(["--email", "ada@example.com", "--role", "x"], PASSWORD, "unknown role")]
            if HAS_ROLES
            else []
        ),
    ],
)
def test_create_user_refuses_bad_input_in_one_line(
    database_url: str, args: list[str], stdin: str, message: str
) -> None:
    result = create_user(database_url, *args, stdin=stdin)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_a_command_run_in_process_answers_as_the_real_one(database_url: str) -> None:
    # What lets most tests here run the command line in this process.
    args = ("create-user", "--email", "not-an-email")
    real = cli_process(database_url, *args, stdin=PASSWORD)
    here = cli(database_url, *args, stdin=PASSWORD)
    assert real.returncode == 1, real.stderr
    assert (here.returncode, here.stdout, here.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_create_user_refuses_a_duplicate_email(database_url: str) -> None:
    first = create_user(database_url, "--email", "ada@example.com", stdin=PASSWORD)
    assert first.returncode == 0, first.stderr
    again = create_user(database_url, "--email", "ADA@example.com", stdin=PASSWORD)
    assert again.returncode != 0
    assert again.stderr.strip().splitlines() == [
        "error: a user with email ada@example.com already exists"
    ]


def test_create_user_on_an_unmigrated_database_says_so(
    empty_database_url: str,
) -> None:
    result = cli_process(
        empty_database_url,
        "create-user",
        "--email",
        "ada@example.com",
        stdin=PASSWORD,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "alembic upgrade head" in lines[0]


def test_cleanup_sessions_reports_how_many_it_removed(database_url: str) -> None:
    result = cli(database_url, "cleanup-sessions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed ")
    assert "login failures" in result.stdout


@pytest.mark.anyio
async def test_clear_throttle_lets_a_locked_account_log_in_at_once(
    database_url: str,
) -> None:
    app = create_app(
        Settings(
            _env_file=None,
            environment="test",
            secret_key=TEST_SECRET_KEY,
            database_url=database_url,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await register(client, "ada@example.com")
        wrong = {"username": "ada@example.com", "password": "not the password"}
        right = {"username": "ada@example.com", "password": PASSWORD}
        limit = app_state(app).settings.login_failures_per_account
        for _ in range(limit):
            assert (await client.post("/auth/login", data=wrong)).status_code == 401
        assert (await client.post("/auth/login", data=right)).status_code == 429
        result = await cli_async(
            database_url, "clear-throttle", "--email", "ADA@example.com"
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            f"cleared {limit} counted attempts of account <ada@example.com>"
        )
        assert (await client.post("/auth/login", data=right)).status_code == 200
    await release(app)


def test_clear_throttle_needs_an_email_or_a_client(database_url: str) -> None:
    result = cli(database_url, "clear-throttle")
    assert result.returncode == 2
    assert "one of the arguments --email --client is required" in result.stderr


def test_role_options_exist_only_with_roles(database_url: str) -> None:
    def help_text(*args: str) -> str:
        result = cli(database_url, *args, "--help")
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert ("--role" in help_text("create-user")) == HAS_ROLES
    commands = help_text()
    assert ("grant-role" in commands) == HAS_ROLES
    assert ("revoke-role" in commands) == HAS_ROLES
