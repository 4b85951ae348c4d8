"""The clean-up deletes in batches, each its own transaction (app/cleanup.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from app import cleanup
from app.auth import throttle
from app.auth.models import LoginFailure
from app.db import utcnow
from app.state import app_state

pytestmark = pytest.mark.anyio


async def test_cleanup_removes_every_expired_row_a_batch_per_commit(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = app_state(app)
    monkeypatch.setattr(cleanup, "BATCH", 3)
    old = utcnow() - timedelta(days=30)
    async with state.sessionmaker() as db:
        db.add_all(LoginFailure(key=f"client:{n}", created_at=old) for n in range(10))
        db.add_all(LoginFailure(key="client:now") for _ in range(2))
        await db.commit()
        commits: list[int] = []
        event.listen(db.sync_session, "after_commit", lambda _: commits.append(1))
        removed = await throttle.cleanup(db=db, settings=state.settings)
        left = list(await db.scalars(select(LoginFailure.key)))
    assert removed == 10
    assert left == ["client:now", "client:now"]
    # 10 rows, 3 a batch: four batches, each committed on its own.
    assert len(commits) == 4
