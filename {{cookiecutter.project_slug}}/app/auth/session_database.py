"""Database sessions: the cookie holds an opaque id, the server holds the session.

The id is 256 random bits from :mod:`secrets`; the ``user_session`` table keeps
only its SHA-256, so a copy of the table lets nobody in. Every request reads
its session and its user in one indexed query, with no cache in the process,
so a logout or a revocation is seen at once by every process that shares the
database. Logout and revocation delete the row: there is nothing left to
filter out on the hot path, nor to resurrect by mistake. Each row also keeps
the user's security stamp at login and is only valid while it still matches.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Request,
    Response,
    status,
)
from itsdangerous import Signer
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    ForeignKey,
    String,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.auth import service
from app.auth.cookies import (
    clear_session_cookies,
    session_cookie_name,
    set_csrf_cookie,
    set_session_cookie,
)
from app.auth.credentials import VerifiedUser
from app.auth.csrf import CSRFMiddleware, issue_token, make_signer
from app.auth.models import User
from app.auth.rbac import principal_select, to_principal
from app.auth.schemas import UserRead
from app.auth.strategy import Principal
from app.config import Settings
from app.db import Base, SessionDep, UTCDateTime, utcnow
from app.reader import Reader

# 32 random bytes: 256 bits, twice what ASVS asks of a session id.
ID_BYTES = 32
# last_seen_at is written at most once a minute per session, not on every request.
TOUCH_AFTER = timedelta(seconds=60)
USER_AGENT_LENGTH = 255
# The longest textual IPv6 address (with an embedded IPv4 one).
IP_LENGTH = 45

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger("app.auth")


class UserSession(Base):
    """One logged-in browser of a user."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the id in the cookie; the id itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the API shows; random, so it tells nothing about the cookie.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Absolute end of the session; cleanup deletes by it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_LENGTH))
    ip_address: Mapped[str | None] = mapped_column(String(IP_LENGTH))
    # The user's security stamp at login: a new stamp ends the session.
    security_stamp: Mapped[str] = mapped_column(String(32))


class SessionRead(BaseModel):
    """One of the caller's sessions, as ``GET /auth/sessions`` lists it."""

    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    current: bool


@dataclass(frozen=True, slots=True)
class CurrentSession:
    """The session behind a request, and its user."""

    principal: Principal
    token_hash: str
    public_id: str


@dataclass(frozen=True, slots=True)
class _Sessions:
    settings: Settings
    cookie_name: str
    csrf_signer: Signer


def token_hash(session_id: str) -> str:
    """Return what the database stores for ``session_id``: its SHA-256, in hex.

    It is also what CSRF tokens are bound to, so the middleware can check a
    token without reading the database, and no script sees the id itself.
    """
    return hashlib.sha256(session_id.encode()).hexdigest()


def install(app: FastAPI, settings: Settings) -> None:
    """Keep the cookie settings on the app and add CSRF protection."""
    sessions = _Sessions(
        settings, session_cookie_name(settings), make_signer(settings.signing_keys)
    )
    app.state.sessions = sessions
    app.add_middleware(
        CSRFMiddleware,
        session_cookie=sessions.cookie_name,
        binding=token_hash,
        signer=sessions.csrf_signer,
        trusted_origins=settings.trusted_origins,
    )


# Built once; each request only binds values: one indexed read through the
# app's Reader, with no ORM session and no identity map.
_CURRENT_QUERY = (
    principal_select(UserSession.public_id, UserSession.last_seen_at)
    .join(UserSession, UserSession.user_id == User.id)
    .where(
        UserSession.token_hash == bindparam("token_hash"),
        User.is_active,
        UserSession.security_stamp == User.security_stamp,
        UserSession.expires_at > bindparam("now"),
        # created_at as well as expires_at, so that lowering SESSION_MAX_AGE
        # also shortens the sessions that already exist.
        UserSession.created_at > bindparam("born_after"),
        UserSession.last_seen_at > bindparam("seen_after"),
    )
)
_TOUCH = (
    update(UserSession)
    .where(
        UserSession.token_hash == bindparam("hashed"),
        UserSession.last_seen_at <= bindparam("stale_before"),
    )
    .values(last_seen_at=bindparam("seen"))
)


async def current_session(request: Request) -> CurrentSession:
    """Return the live session of the request and its active user, or answer 401.

    One indexed read; a write only when ``last_seen_at`` is over a minute old.
    """
    sessions = _sessions(request)
    raw = request.cookies.get(sessions.cookie_name)
    if not raw:
        raise _not_authenticated()
    hashed = token_hash(raw)
    now = utcnow()
    settings = sessions.settings
    reader: Reader = request.app.state.reader
    rows = await reader.rows(
        _CURRENT_QUERY,
        {
            "token_hash": hashed,
            "now": now,
            "born_after": now - timedelta(seconds=settings.session_max_age),
            "seen_after": now - timedelta(seconds=settings.session_idle_timeout),
        },
    )
    if not rows:
        raise _not_authenticated()
    first = rows[0]
    if first.last_seen_at <= now - TOUCH_AFTER:
        engine: AsyncEngine = request.app.state.engine
        # The guard in SQL keeps concurrent requests from writing it twice.
        async with engine.begin() as connection:
            await connection.execute(
                _TOUCH,
                {"hashed": hashed, "stale_before": now - TOUCH_AFTER, "seen": now},
            )
    return CurrentSession(to_principal(rows), hashed, first.public_id)


CurrentSessionDep = Annotated[CurrentSession, Depends(current_session)]


async def current_principal(request: Request, response: Response) -> Principal:
    """Return the logged-in user, or answer 401 (``response`` is left alone).

    It calls :func:`current_session` rather than depending on it, which spares
    every authenticated request a level of dependency solving. A route that
    needs the session as well takes ``CurrentSessionDep`` alone and reads its
    ``principal``, so that the session is read once.
    """
    return (await current_session(request)).principal


LoginResponse = UserRead


@router.post("/login")
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse:
    """Log in with the OAuth2 password form; a new session id arrives as a cookie."""
    return await start_session(request=request, response=response, db=db, user=user)


async def start_session(
    *, request: Request, response: Response, db: AsyncSession, user: User
) -> LoginResponse:
    """Store a new session and set its cookie, with a CSRF token bound to it.

    The id is always new: one the browser brought is never adopted, and its
    session, if it had one, ends here.
    """
    sessions = _sessions(request)
    settings = sessions.settings
    previous = request.cookies.get(sessions.cookie_name)
    if previous:
        await _delete(db, UserSession.token_hash == token_hash(previous))
    session_id = secrets.token_urlsafe(ID_BYTES)
    now = utcnow()
    db.add(
        UserSession(
            token_hash=token_hash(session_id),
            public_id=secrets.token_urlsafe(16),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_max_age),
            user_agent=request.headers.get("user-agent", "")[:USER_AGENT_LENGTH],
            ip_address=request.client.host[:IP_LENGTH] if request.client else None,
            security_stamp=user.security_stamp,
        )
    )
    await db.commit()
    set_session_cookie(response, settings, session_id, settings.session_max_age)
    csrf_token = issue_token(sessions.csrf_signer, token_hash(session_id))
    set_csrf_cookie(response, settings, csrf_token, settings.session_max_age)
    return UserRead.model_validate(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    current: CurrentSessionDep, request: Request, db: SessionDep
) -> Response:
    """End this session: its row goes, so a copy of the cookie is refused too."""
    await _delete(db, UserSession.token_hash == current.token_hash)
    await db.commit()
    log.info("logout user_id=%s", current.principal.id)
    return _cleared(request)


@router.get("/sessions")
async def list_sessions(
    current: CurrentSessionDep, request: Request, db: SessionDep
) -> list[SessionRead]:
    """List the caller's live sessions, most recently used first."""
    rows = await db.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == current.principal.id,
            *_live(_sessions(request).settings, utcnow()),
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [
        SessionRead(
            id=row.public_id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            current=row.token_hash == current.token_hash,
        )
        for row in rows
    ]


@router.delete("/sessions", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_other_sessions(current: CurrentSessionDep, db: SessionDep) -> None:
    """End every session of the caller except this one."""
    await _delete(
        db,
        UserSession.user_id == current.principal.id,
        UserSession.token_hash != current.token_hash,
    )
    await db.commit()


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: Annotated[str, Path(max_length=1024, pattern=r"^[A-Za-z0-9_-]+$")],
    current: CurrentSessionDep,
    request: Request,
    db: SessionDep,
) -> Response:
    """End one of the caller's sessions; an unknown or foreign id is 404."""
    removed = await _delete(
        db,
        UserSession.public_id == session_id,
        UserSession.user_id == current.principal.id,
    )
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Session not found")
    await db.commit()
    if session_id == current.public_id:
        return _cleared(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user (password change, deactivation).

    The new security stamp alone would end them; the rows go as well.
    """
    await service.rotate_security_stamp(db=db, user_id=user_id)
    await _delete(db, UserSession.user_id == user_id)


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete sessions past their absolute lifetime; return how many.

    Revoked sessions were deleted when they were revoked. A session that timed
    out idle is refused at once and deleted here once ``expires_at`` passes.
    """
    return await _delete(db, UserSession.expires_at <= utcnow())


def _live(settings: Settings, now: datetime) -> tuple[ColumnElement[bool], ...]:
    # created_at is checked as well as expires_at, so that lowering
    # SESSION_MAX_AGE also shortens the sessions that already exist.
    return (
        UserSession.expires_at > now,
        UserSession.created_at > now - timedelta(seconds=settings.session_max_age),
        UserSession.last_seen_at
        > now - timedelta(seconds=settings.session_idle_timeout),
    )


async def _delete(db: AsyncSession, *where: ColumnElement[bool]) -> int:
    result = await db.execute(delete(UserSession).where(*where))
    # A DELETE answers with a CursorResult, which counts the rows it removed.
    return cast(CursorResult[Any], result).rowcount


def _cleared(request: Request) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, _sessions(request).settings)
    return response


def _sessions(request: Request) -> _Sessions:
    sessions: _Sessions = request.app.state.sessions
    return sessions


def _not_authenticated() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
