"""The strategy's own routes: logout, here and everywhere."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.auth.cookies import logged_out
from app.auth.credentials import VerifiedUser
from app.auth.events import EventType, record
from app.auth.mfa.challenge import MfaRequired, second_factor_required
from app.auth.session.lifecycle import LoginResponse, end_sessions, start_session
from app.auth.session.principal import CurrentPrincipal
from app.db import SessionDep
from app.state import app_state

router = APIRouter(prefix="/auth", tags=["auth"])


# Added by app.auth.router as POST /auth/login, beside the other account routes.
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse | MfaRequired:
    """Log in with the OAuth2 password form; the strategy starts the session.

    With MFA on, no session yet: the answer is a token for ``/auth/mfa/verify``.
    """
    if user.mfa_enabled:
        return await second_factor_required(request, response, db, user)
    return await start_session(
        request=request,
        response=response,
        db=db,
        user=user,
        event=EventType.LOGIN_SUCCEEDED,
    )


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
