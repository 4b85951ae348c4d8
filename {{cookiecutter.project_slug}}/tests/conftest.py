"""Fixtures: a freshly migrated database per test, the app and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth import passwords
from app.config import Settings
from app.db import create_engine
from app.main import create_app, release
from tests import database
from tests.helpers import TEST_SECRET_KEY
from tests.secrets_watch import watching
from tests.servers import PROJECT_ROOT, uvicorn_servers
from tests.smtp import Mailbox, smtp_server

MakeSettings = Callable[..., Settings]

# argon2id at the production cost takes about 0.2 s of CPU a hash, and the
# suite hashes hundreds of times. The same algorithm at a tiny cost (one pass
# over 1 MiB) keeps every code path; tests marked ``production_hasher``, and
# every server and command the tests start in a process of its own, use the
# real cost.
_TEST_HASHER = PasswordHash(
    (Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _events_hold_no_secret() -> Iterator[None]:
    # Over the whole run: no event holds a password, token, code or cookie
    # that any test sent or got (tests/secrets_watch.py).
    with watching() as watch:
        yield
    leaks = watch.leaks()
    assert not leaks, f"{len(leaks)} secrets found in security events"


def migrate(url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``url`` with the project's own migrations."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("production_hasher") is None:
        monkeypatch.setattr(passwords, "_hasher", _TEST_HASHER)
    # The dummy hash is made by whichever hasher is in place.
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    """A database migrated once per run, cloned for every test."""
    url = database.create_empty()
    migrate(url)
    yield url
    database.drop(url)


@pytest.fixture
def database_url(migrated_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated database for this test alone."""
    url = database.clone(migrated_template)
    yield url
    database.drop(url)


# What every test on the shared servers sends from 127.0.0.1 adds up over
# the run: their per-client limits are raised so that no test meets another's
# counts. The throttle's tests run on apps and servers of their own.
SHARED_SERVER_ENV = {
    "REGISTRATIONS_PER_CLIENT": "10000",
    "LOGIN_FAILURES_PER_CLIENT": "10000",
}


@pytest.fixture(scope="session")
def servers(migrated_template: str) -> Iterator[list[str]]:
    """Two uvicorn servers sharing one fresh database, as behind a load balancer.

    The first runs two worker processes on one socket, as in production; the
    second one process. Started once for the run (each process takes seconds
    to start): every test that uses them registers users of its own
    (``register_on``).
    """
    url = database.clone(migrated_template)
    try:
        with uvicorn_servers(url, [2, 1], env=SHARED_SERVER_ENV) as base_urls:
            yield base_urls
    finally:
        database.drop(url)


@pytest.fixture(scope="session")
def server(servers: list[str]) -> str:
    """The first of ``servers``: two worker processes, served as in production."""
    return servers[0]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine of its own on this test's database."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """The URL of a fresh database without any table."""
    url = database.create_empty()
    yield url
    database.drop(url)


@pytest.fixture
def make_settings(database_url: str) -> MakeSettings:
    """Build test settings, with overrides."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "environment": "test",
            "secret_key": TEST_SECRET_KEY,
            "database_url": database_url,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free local port (tests/smtp.py); its mailbox."""
    with smtp_server() as received:
        yield received


@pytest.fixture
def production_settings(make_settings: MakeSettings, mailbox: Mailbox) -> Settings:
    """Production settings whose mail goes to ``mailbox``.

    Production refuses the console backend, so a registration's message goes
    by SMTP. With no server to take it, its job would retry for seconds and
    ``release`` would wait that long for it.
    """
    return make_settings(
        environment="production",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_tls="none",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await release(application)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as http:
        yield http
