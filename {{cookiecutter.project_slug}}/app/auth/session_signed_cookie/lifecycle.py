"""Installing the strategy, and starting and ending sessions."""

from __future__ import annotations

import secrets
import time

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import service
from app.auth.cookies import CookieLogin, session_cookie_name, start_cookie_session
from app.auth.csrf import CSRFMiddleware, issue_token, make_signer
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.session.cookie import SessionCodec, SessionData, make_serializer
from app.auth.session.state import SessionState
from app.config import Settings
from app.reader import Reader
from app.state import app_state

LoginResponse = CookieLogin


def install(app: FastAPI, settings: Settings, engine: AsyncEngine) -> SessionState:
    """Add CSRF protection to ``app``; return what the strategy keeps."""
    codec = SessionCodec(make_serializer(settings.signing_keys))
    state = SessionState(
        codec=codec,
        cookie_name=session_cookie_name(settings),
        csrf_signer=make_signer(settings.signing_keys),
        reader=Reader(engine, timeout=settings.database_timeout),
    )
    app.add_middleware(
        CSRFMiddleware,
        session_cookie=state.cookie_name,
        binding=lambda raw: data.sid if (data := codec.decode(raw)) else None,
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
    """Set a new session cookie, and a new CSRF token bound to it.

    No row stores the session: ``event`` commits with what the caller left
    in ``db`` (the login's throttle bookkeeping).
    """
    if event is not None:
        record(db, event, request, user_id=user.id, actor_id=user.id)
    await db.commit()
    state = app_state(request.app)
    now = int(time.time())
    data = SessionData(
        uid=user.id,
        stamp=user.security_stamp,
        sid=secrets.token_urlsafe(16),
        iat=now,
        seen=now,
    )
    return start_cookie_session(
        response,
        state.settings,
        user=user,
        cookie=state.session.codec.encode(data),
        csrf_token=issue_token(state.session.csrf_signer, data.sid),
    )


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user: a new security stamp fits no older cookie."""
    await service.rotate_security_stamp(db=db, user_id=user_id)


async def cleanup_expired(db: AsyncSession) -> int:
    """Remove stored sessions that have ended: none are stored, so none."""
    return 0
