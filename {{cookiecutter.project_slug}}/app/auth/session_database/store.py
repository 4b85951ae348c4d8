"""Every query on the ``user_session`` table."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import service
from app.auth.models import User
from app.auth.rbac import principal_select
from app.auth.session.models import IP_LENGTH, USER_AGENT_LENGTH, UserSession
from app.cleanup import delete_in_batches
from app.config import Settings
from app.db import utcnow
from app.reader import Reader

# 32 random bytes: 256 bits, twice what ASVS asks of a session id.
ID_BYTES = 32
# last_seen_at is written at most once a minute per session, not on every request.
TOUCH_AFTER = timedelta(seconds=60)
# The sessions whose last_seen_at this process is writing now (as many at
# most as requests in flight).
_touching: set[str] = set()


def token_hash(session_id: str) -> str:
    """Return what the database stores for ``session_id``: its SHA-256, in hex.

    It is also what CSRF tokens are bound to, so the middleware can check a
    token without reading the database, and no script sees the id itself.
    """
    return hashlib.sha256(session_id.encode()).hexdigest()


# Built once; each request only binds values: one indexed read through the
# strategy's Reader, with no ORM session and no identity map.
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


async def read_live(
    reader: Reader, engine: AsyncEngine, settings: Settings, hashed: str
) -> tuple[Any, ...] | None:
    """Return the rows of a live session and its active user, if there is one.

    One indexed read; a write only when ``last_seen_at`` is over a minute old.
    """
    now = utcnow()
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
        return None
    if rows[0].last_seen_at <= now - TOUCH_AFTER and hashed not in _touching:
        # A client's concurrent requests all find the same stale time: the
        # first writes it, the others of this process leave it to that one
        # rather than each taking a pooled connection for a no-op UPDATE.
        # The guard in SQL keeps other processes from writing it twice.
        _touching.add(hashed)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    _TOUCH,
                    {"hashed": hashed, "stale_before": now - TOUCH_AFTER, "seen": now},
                )
        finally:
            _touching.discard(hashed)
    return tuple(rows)


def create(
    db: AsyncSession,
    *,
    user: User,
    settings: Settings,
    user_agent: str,
    ip_address: str | None,
) -> tuple[str, str]:
    """Add a new session of ``user`` to ``db``; return its id (for the cookie).

    And its public id, which the API and events show.
    """
    session_id = secrets.token_urlsafe(ID_BYTES)
    public_id = secrets.token_urlsafe(16)
    now = utcnow()
    db.add(
        UserSession(
            token_hash=token_hash(session_id),
            public_id=public_id,
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_max_age),
            user_agent=user_agent[:USER_AGENT_LENGTH],
            ip_address=None if ip_address is None else ip_address[:IP_LENGTH],
            security_stamp=user.security_stamp,
        )
    )
    return session_id, public_id


async def list_live(
    db: AsyncSession, settings: Settings, user_id: int
) -> list[UserSession]:
    """Return the live sessions of a user, most recently used first."""
    rows = await db.scalars(
        select(UserSession)
        .where(UserSession.user_id == user_id, *_live(settings, utcnow()))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return list(rows)


async def delete_where(db: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Delete the sessions that match ``where``; return how many."""
    result = await db.execute(delete(UserSession).where(*where))
    # A DELETE answers with a CursorResult, which counts the rows it removed.
    return cast(CursorResult[Any], result).rowcount


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user (password change, deactivation).

    The new security stamp alone would end them; the rows go as well.
    """
    await service.rotate_security_stamp(db=db, user_id=user_id)
    await delete_where(db, UserSession.user_id == user_id)


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete sessions past their absolute lifetime; return how many.

    Revoked sessions were deleted when they were revoked. A session that timed
    out idle is refused at once and deleted here once ``expires_at`` passes.
    """
    return await delete_in_batches(
        db, UserSession.id, UserSession.expires_at <= utcnow()
    )


def _live(settings: Settings, now: datetime) -> tuple[ColumnElement[bool], ...]:
    # created_at is checked as well as expires_at, so that lowering
    # SESSION_MAX_AGE also shortens the sessions that already exist.
    return (
        UserSession.expires_at > now,
        UserSession.created_at > now - timedelta(seconds=settings.session_max_age),
        UserSession.last_seen_at
        > now - timedelta(seconds=settings.session_idle_timeout),
    )
