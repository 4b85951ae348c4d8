from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from tests.conftest import PROJECT_ROOT


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    return config


def test_migrations_match_the_models_and_reverse_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "migrate.db"
    config = _config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "head")
    command.check(config)  # raises when the models and migrations drift apart
    command.downgrade(config, "base")
    engine = create_engine(f"sqlite:///{path}")
    try:
        assert inspect(engine).get_table_names() == ["alembic_version"]
    finally:
        engine.dispose()
    command.upgrade(config, "head")
