"""The strategy's own routes: logout, and the caller's sessions; and its login."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel

from app.auth.cookie_login import login as login
from app.auth.cookies import logged_out
from app.auth.events import EventType, record
from app.auth.session import store
from app.auth.session.models import UserSession
from app.auth.session.principal import CurrentSession, CurrentSessionDep
from app.db import SessionDep
from app.state import app_state

router = APIRouter(prefix="/auth", tags=["auth"])


class SessionRead(BaseModel):
    """One of the caller's sessions, as ``GET /auth/sessions`` lists it."""

    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    current: bool


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    current: CurrentSessionDep, request: Request, db: SessionDep
) -> Response:
    """End this session: its row goes, so a copy of the cookie is refused too."""
    await store.delete_where(db, UserSession.token_hash == current.token_hash)
    _record(db, EventType.LOGOUT, request, current, current.public_id)
    await db.commit()
    return logged_out(app_state(request.app).settings)


@router.get("/sessions")
async def list_sessions(
    current: CurrentSessionDep, request: Request, db: SessionDep
) -> list[SessionRead]:
    """List the caller's live sessions, most recently used first."""
    settings = app_state(request.app).settings
    return [
        SessionRead(
            id=row.public_id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.token_hash == current.token_hash,
        )
        for row in await store.list_live(db, settings, current.principal.id)
    ]


@router.delete("/sessions", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_other_sessions(
    current: CurrentSessionDep, request: Request, db: SessionDep
) -> None:
    """End every session of the caller except this one."""
    removed = await store.delete_where(
        db,
        UserSession.user_id == current.principal.id,
        UserSession.token_hash != current.token_hash,
    )
    if removed:
        _record(db, EventType.SESSION_REVOKED, request, current, "others", removed)
    await db.commit()


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: Annotated[str, Path(max_length=1024, pattern=r"^[A-Za-z0-9_-]+$")],
    current: CurrentSessionDep,
    request: Request,
    db: SessionDep,
) -> Response:
    """End one of the caller's sessions; an unknown or foreign id is 404."""
    removed = await store.delete_where(
        db,
        UserSession.public_id == session_id,
        UserSession.user_id == current.principal.id,
    )
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Session not found")
    _record(db, EventType.SESSION_REVOKED, request, current, session_id)
    await db.commit()
    if session_id == current.public_id:
        return logged_out(app_state(request.app).settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _record(
    db: SessionDep,
    event: EventType,
    request: Request,
    current: CurrentSession,
    session: str,
    count: int = 1,
) -> None:
    # Sessions are named by their public id ("others": every other one).
    detail: dict[str, object] = {"session": session}
    if count != 1:
        detail["count"] = count
    principal = current.principal.id
    record(db, event, request, user_id=principal, actor_id=principal, detail=detail)
