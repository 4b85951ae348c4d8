"""Installing the strategy, and starting and ending sessions."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.cookies import CookieLogin, session_cookie_name, start_cookie_session
from app.auth.csrf import CSRFMiddleware, issue_token, make_signer
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.session import store
from app.auth.session.models import UserSession
from app.auth.session.state import SessionState
from app.config import Settings
from app.reader import Reader
from app.state import app_state

LoginResponse = CookieLogin

# Every session query lives in the store; these two are the strategy's answers.
end_sessions = store.end_sessions
cleanup_expired = store.cleanup_expired


def install(app: FastAPI, settings: Settings, engine: AsyncEngine) -> SessionState:
    """Add CSRF protection to ``app``; return what the strategy keeps."""
    state = SessionState(
        cookie_name=session_cookie_name(settings),
        csrf_signer=make_signer(settings.signing_keys),
        reader=Reader(engine, timeout=settings.database_timeout),
    )
    app.add_middleware(
        CSRFMiddleware,
        session_cookie=state.cookie_name,
        binding=store.token_hash,
        signer=state.csrf_signer,
        trusted_origins=settings.trusted_origins,
    )
    return state


async def release(state: SessionState) -> None:
    """Close the reader's connections (at shutdown)."""
    await state.reader.close()


async def start_session(
    *,
    request: Request,
    response: Response,
    db: AsyncSession,
    user: User,
    event: EventType | None = None,
) -> LoginResponse:
    """Store a new session and set its cookie, with a CSRF token bound to it.

    The id is always new: one the browser brought is never adopted, and its
    session, if it had one, ends here. ``event`` is recorded with the new
    session's public id, in the transaction that stores it.
    """
    state = app_state(request.app)
    previous = request.cookies.get(state.session.cookie_name)
    if previous:
        await store.delete_where(
            db, UserSession.token_hash == store.token_hash(previous)
        )
    session_id, public_id = store.create(
        db,
        user=user,
        settings=state.settings,
        user_agent=request.headers.get("user-agent", ""),
        ip_address=request.client.host if request.client else None,
    )
    if event is not None:
        record(
            db,
            event,
            request,
            user_id=user.id,
            actor_id=user.id,
            detail={"session": public_id},
        )
    await db.commit()
    return start_cookie_session(
        response,
        state.settings,
        user=user,
        cookie=session_id,
        csrf_token=issue_token(state.session.csrf_signer, store.token_hash(session_id)),
    )
