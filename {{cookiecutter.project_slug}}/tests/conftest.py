"""Fixtures: a freshly migrated database per test, the app and an HTTP client."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.helpers import TEST_SECRET_KEY

PROJECT_ROOT = Path(__file__).resolve().parent.parent

MakeSettings = Callable[..., Settings]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def migrate(url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``url`` with the project's own migrations."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per run, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def database_url(migrated_file: Path, tmp_path: Path) -> str:
    """The URL of a fresh, migrated database for this test alone."""
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_file, path)
    return f"sqlite+aiosqlite:///{path}"


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
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as http:
        yield http
