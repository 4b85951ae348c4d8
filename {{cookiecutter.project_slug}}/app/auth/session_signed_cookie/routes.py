"""The strategy's own routes: logout, here and everywhere; and its login."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.auth.cookie_login import login as login
from app.auth.cookies import logged_out
from app.auth.events import EventType, record
from app.auth.session.lifecycle import end_sessions
from app.auth.session.principal import CurrentPrincipal
from app.db import SessionDep
from app.state import app_state

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, request: Request, db: SessionDep
) -> Response:
    """Forget the session cookie in this browser."""
    record(db, EventType.LOGOUT, request, user_id=principal.id, actor_id=principal.id)
    await db.commit()
    return logged_out(app_state(request.app).settings)


@router.post("/logout-everywhere", status_code=status.HTTP_204_NO_CONTENT)
async def logout_everywhere(
    principal: CurrentPrincipal, request: Request, db: SessionDep
) -> Response:
    """End every session of the user, in every browser."""
    await end_sessions(db, principal.id)
    record(
        db,
        EventType.LOGOUT,
        request,
        user_id=principal.id,
        actor_id=principal.id,
        detail={"everywhere": True},
    )
    await db.commit()
    return logged_out(app_state(request.app).settings)
