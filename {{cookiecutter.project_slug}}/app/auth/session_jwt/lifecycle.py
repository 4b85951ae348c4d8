"""Installing the strategy, and starting and ending sessions."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.credentials import INVALID_CREDENTIALS
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.session import store
from app.auth.session.errors import invalid_grant
from app.auth.session.principal import bearer_challenge
from app.auth.session.schemas import TokenPair
from app.auth.session.state import SessionState
from app.auth.session.tokens import Keys, Tokens
from app.config import Settings
from app.db import utcnow
from app.state import app_state

LoginResponse = TokenPair

# Every refresh-token query lives in the store; these are the strategy's answers.
end_sessions = store.end_sessions
cleanup_expired = store.cleanup_expired


def install(app: FastAPI, settings: Settings, engine: AsyncEngine) -> SessionState:
    """Parse the keys once; bearer tokens need no CSRF protection."""
    app.add_exception_handler(StarletteHTTPException, bearer_challenge)
    return SessionState(tokens=Tokens(Keys.from_settings(settings)))


async def release(state: SessionState) -> None:
    """Nothing to close: the strategy holds no connection of its own."""


async def start_session(
    *,
    request: Request,
    response: Response,
    db: AsyncSession,
    user: User,
    event: EventType | None = None,
) -> LoginResponse:
    """Open a new refresh-token family for ``user``; answer its first pair.

    ``event`` is recorded with the family's id, in the transaction that
    stores its first token.
    """
    principal = await store.load_principal(db, user.id, user.security_stamp)
    if principal is None:  # deactivated or changed since the password check
        raise invalid_grant(INVALID_CREDENTIALS)
    tokens = app_state(request.app).session.tokens
    expires_at = utcnow() + timedelta(seconds=tokens.keys.refresh_ttl)
    family = secrets.token_hex(16)
    if event is not None:
        detail = {"family": family}
        record(db, event, request, user_id=user.id, actor_id=user.id, detail=detail)
    no_store(response)
    return await store.issue_pair(
        db,
        tokens,
        principal,
        stamp=user.security_stamp,
        family=family,
        expires_at=expires_at,
        refresh_token=store.new_token(),
    )


def no_store(response: Response) -> None:
    """Keep an answer with tokens out of every cache (RFC 6749 5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
