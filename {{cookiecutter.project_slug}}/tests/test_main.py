"""The application's start: what its lifespan does before the first request."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.config import Settings
from app.main import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Nothing frozen before the test, and nothing after it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
async def test_startup_takes_what_lives_for_good_out_of_the_collectors_sight(
    settings: Settings,
) -> None:
    app = create_app(settings)
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        # Every module, class and route made so far: frozen...
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        # ...so a full collection walks only what came after them.
        assert len(gc.get_objects(generation=2)) < frozen // 10
