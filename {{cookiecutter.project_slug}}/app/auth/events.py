"""Security events: one stored, queryable record of each authentication decision.

:func:`record` is the one way to record one: it adds the row to the caller's
database session, so that it commits (or rolls back) with the change it
records, and writes the one log line of the ``app.auth`` logger. An event
never holds a password, a token, a code or a secret: a session or a refresh
family is named by its public id, never by what authenticates it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import JSON, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.cleanup import delete_in_batches
from app.db import Base, UTCDateTime, utcnow

log = logging.getLogger("app.auth")

USER_AGENT_LENGTH = 255
# The longest textual IPv6 address (with an embedded IPv4 one).
IP_LENGTH = 45
# What an event may quote of what a client typed (an unknown address).
QUOTE_LENGTH = 320


class EventType(StrEnum):
    """What happened; the names are part of the API."""

    USER_REGISTERED = "user.registered"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_THROTTLED = "login.throttled"
    LOGOUT = "logout"
    SESSION_REVOKED = "session.revoked"
    REFRESH_REUSED = "refresh.reused"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an event's name
    PASSWORD_RESET = "password.reset"  # noqa: S105 - an event's name
    EMAIL_VERIFIED = "email.verified"
    EMAIL_CHANGED = "email.changed"
    MFA_ENABLED = "mfa.enabled"
    MFA_DISABLED = "mfa.disabled"
    MFA_FAILED = "mfa.failed"
    MFA_RECOVERY_USED = "mfa.recovery_used"
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_ACTIVATED = "user.activated"


# Refusals and suspicious events are warnings; the rest is information.
_WARNINGS = frozenset(
    {
        EventType.LOGIN_FAILED,
        EventType.LOGIN_THROTTLED,
        EventType.REFRESH_REUSED,
        EventType.MFA_FAILED,
    }
)


class SecurityEvent(Base):
    """One recorded event."""

    __tablename__ = "security_events"
    __table_args__ = (
        # One user's events, and one type's, newest first; retention by age.
        Index(None, "user_id", "id"),
        Index(None, "type", "id"),
        # Ids are never reused (SQLite would hand out a deleted last one
        # again), so an id seen once names one event for good.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    type: Mapped[str] = mapped_column(String(32))
    # Whom it concerns; None for an address that is no account's. No foreign
    # key: the record outlives the account, and ids are never reused.
    user_id: Mapped[int | None]
    # Who did it: the user, an admin, or None (someone unknown, or the
    # command line).
    actor_id: Mapped[int | None]
    ip: Mapped[str | None] = mapped_column(String(IP_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


def origin(request: Request | None) -> tuple[str | None, str | None]:
    """Return the client's address, as the ASGI server reports it, and user agent.

    The app never reads ``X-Forwarded-For``: whom to believe behind a proxy
    is uvicorn's setting (``--forwarded-allow-ips``).
    """
    if request is None:
        return None, None
    ip = request.client.host[:IP_LENGTH] if request.client else None
    agent = request.headers.get("user-agent")
    return ip, None if agent is None else agent[:USER_AGENT_LENGTH]


def record(
    db: AsyncSession,
    type: EventType,
    request: Request | None,
    *,
    user_id: int | None,
    actor_id: int | None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add an event to ``db``, to commit with the change it records; log it.

    ``request`` gives the client's address and user agent (None from the
    command line). The caller commits.
    """
    ip, agent = origin(request)
    db.add(
        SecurityEvent(
            at=utcnow(),
            type=type.value,
            user_id=user_id,
            actor_id=actor_id,
            ip=ip,
            user_agent=agent,
            detail=dict(detail or {}),
        )
    )
    note(
        type.value,
        warning=type in _WARNINGS,
        user_id=user_id,
        actor_id=actor_id,
        ip=ip,
        detail=detail,
    )


def note(
    what: str,
    *,
    warning: bool = True,
    user_id: int | None = None,
    actor_id: int | None = None,
    ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Write one line on the ``app.auth`` logger, in the events' format.

    Also for what is logged but not stored (a refused authorisation).
    """
    level = logging.WARNING if warning else logging.INFO
    if not log.isEnabledFor(level):
        return  # spares the JSON below
    log.log(
        level,
        "%s user_id=%s actor_id=%s ip=%s detail=%s",
        what,
        user_id,
        actor_id,
        ip,
        # JSON escapes control characters: a client's text cannot forge lines.
        json.dumps(dict(detail or {}), sort_keys=True, default=str),
    )


def quote(text: str) -> str:
    """Return what an event may keep of a string a client sent.

    Printable characters only (PostgreSQL text takes no NUL), and not many.
    """
    printable = "".join(char for char in text[:QUOTE_LENGTH] if char.isprintable())
    return printable[:QUOTE_LENGTH]


async def page(
    db: AsyncSession,
    *,
    limit: int,
    before: int | None = None,
    user_id: int | None = None,
    type: EventType | None = None,
) -> list[SecurityEvent]:
    """Return up to ``limit`` events, newest first, older than the id ``before``.

    Keyset pagination: the next page is ``before`` the last id of this one,
    and an index answers each filter in order.
    """
    query = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(SecurityEvent.id < before)
    if user_id is not None:
        query = query.where(SecurityEvent.user_id == user_id)
    if type is not None:
        query = query.where(SecurityEvent.type == type.value)
    return list(await db.scalars(query))


async def cleanup(db: AsyncSession, *, days: int) -> int:
    """Delete events older than ``days`` days, in batches; return how many."""
    cutoff = utcnow() - timedelta(days=days)
    return await delete_in_batches(db, SecurityEvent.id, SecurityEvent.at < cutoff)
