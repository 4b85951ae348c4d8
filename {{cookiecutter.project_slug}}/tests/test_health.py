from __future__ import annotations

import httpx
import pytest

from app.main import create_app, release
from tests.conftest import MakeSettings
from tests.database import UNREACHABLE_URL

pytestmark = pytest.mark.anyio


async def test_health_answers_without_database_or_session(
    make_settings: MakeSettings,
) -> None:
    # A database that cannot be opened proves /health never touches it.
    app = create_app(make_settings(database_url=UNREACHABLE_URL))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/health")
    await release(app)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "set-cookie" not in response.headers
