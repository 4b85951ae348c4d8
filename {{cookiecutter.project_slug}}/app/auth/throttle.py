"""Throttling: too many attempts for an account or from a client mean 429.

Attempts are rows in the database, so the limits hold across every process
that shares it. An attempt is counted *before* its password is checked, in
the same statement that reads the count: of any number of concurrent
attempts, at most the limit get through to a password check, on however many
processes. A successful login takes its attempt back and clears the
account's failures; the rest expire with the window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import LoginFailure
from app.auth.service import normalize_email
from app.cleanup import delete_in_batches
from app.config import Settings
from app.db import UTCDateTime, utcnow


class ThrottledError(Exception):
    """Too many attempts: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    """An attempt counted against an account and a client, by the rows' ids."""

    account_key: str
    row_ids: tuple[int, ...]


def account_key(email: str) -> str:
    """Return the throttling key of an account (a hash: no email at rest here)."""
    return "account:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


def client_key(address: str) -> str:
    """Return the throttling key of a client address."""
    return f"client:{address}"[:100]


def registration_key(address: str) -> str:
    """Return the key that counts registrations from a client address."""
    return f"register:{address}"[:100]


async def count_attempt(
    *, db: AsyncSession, settings: Settings, email: str, client: str
) -> Attempt:
    """Count a password check against the account and the client, and commit.

    Raise :class:`ThrottledError`, counting nothing, when either is over its
    limit. Call it before the password is checked, and :func:`succeeded` (or
    :func:`withdraw`) after.
    """
    window = timedelta(seconds=settings.login_failure_window)
    limits = (
        (account_key(email), settings.login_failures_per_account),
        (client_key(client), settings.login_failures_per_client),
    )
    return Attempt(limits[0][0], await _count(db, limits, window))


async def count_registration(
    *, db: AsyncSession, settings: Settings, client: str
) -> None:
    """Count a registration from ``client`` and commit, or raise ThrottledError."""
    window = timedelta(seconds=settings.registration_window)
    limits = ((registration_key(client), settings.registrations_per_client),)
    await _count(db, limits, window)


async def count_mail_request(
    *, db: AsyncSession, settings: Settings, kind: str, email: str, client: str
) -> None:
    """Count a request that mails ``email`` a link of ``kind`` from ``client``; commit.

    ``kind`` is ``reset`` ("forgot password") or ``verify`` (a new
    verification link). Limited like logins, under keys of their own: asking
    for mail never locks an account's logins, nor one kind of mail the other.
    Raise ThrottledError when over a limit.
    """
    window = timedelta(seconds=settings.login_failure_window)
    limits = (
        (mail_key(kind, account_key(email)), settings.login_failures_per_account),
        (mail_key(kind, client_key(client)), settings.login_failures_per_client),
    )
    await _count(db, limits, window)


def mail_key(kind: str, key: str) -> str:
    """Return the key that counts mail requests of ``kind`` for an account or client."""
    return f"{kind}-{key}"[:100]


async def succeeded(*, db: AsyncSession, attempt: Attempt) -> None:
    """Forget the account's failures and this attempt; the caller commits."""
    await db.execute(
        delete(LoginFailure).where(
            (LoginFailure.key == attempt.account_key)
            | LoginFailure.id.in_(attempt.row_ids)
        )
    )


async def withdraw(*, db: AsyncSession, attempt: Attempt) -> None:
    """Take back an attempt whose password was never checked, and commit."""
    await db.execute(delete(LoginFailure).where(LoginFailure.id.in_(attempt.row_ids)))
    await db.commit()


async def clear(*, db: AsyncSession, key: str) -> int:
    """Forget every attempt counted against ``key``; return how many.

    The caller commits.
    """
    result = await db.execute(delete(LoginFailure).where(LoginFailure.key == key))
    return result.rowcount or 0  # type: ignore[attr-defined]


async def cleanup(*, db: AsyncSession, settings: Settings) -> int:
    """Delete attempts older than their window, in batches; return how many."""
    window = max(settings.login_failure_window, settings.registration_window)
    since = utcnow() - timedelta(seconds=window)
    return await delete_in_batches(
        db, LoginFailure.id, LoginFailure.created_at <= since
    )


async def _count(
    db: AsyncSession, limits: tuple[tuple[str, int], ...], window: timedelta
) -> tuple[int, ...]:
    """Count one attempt under every key, or none; commit and return the rows' ids."""
    now = utcnow()
    ids: list[int] = []
    # Keys are always taken in the same order (account, then client), so two
    # requests waiting for each other's keys cannot deadlock.
    for key, limit in limits:
        # A read first, which takes no lock: a flood that is already over the
        # limit is refused without queueing for the database's write lock.
        wait = await _wait(db, key, limit, window)
        row_id = None if wait else await _count_one(db, key, limit, now - window, now)
        if row_id is None:
            await db.rollback()
            raise ThrottledError(wait or await _wait(db, key, limit, window) or 1)
        ids.append(row_id)
    await db.commit()
    return tuple(ids)


async def _count_one(
    db: AsyncSession, key: str, limit: int, since: datetime, now: datetime
) -> int | None:
    if db.get_bind().dialect.name == "postgresql":
        # Under READ COMMITTED two statements could both read a count below
        # the limit; a lock per key, held to the commit, puts them in line.
        # (SQLite runs one writing statement at a time: it needs none.)
        await db.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))
    recent = (
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key == key, LoginFailure.created_at > since)
        .scalar_subquery()
    )
    # One statement reads the count and adds the attempt only under the limit.
    row = select(literal(key), literal(now, UTCDateTime)).where(recent < limit)
    inserted = await db.execute(
        insert(LoginFailure)
        .from_select([LoginFailure.key, LoginFailure.created_at], row)
        .returning(LoginFailure.id)
    )
    return inserted.scalar()


async def _wait(
    db: AsyncSession, key: str, limit: int, window: timedelta
) -> int | None:
    """Return the seconds until ``key`` is under its limit again; None if it is."""
    now = utcnow()
    times = (
        await db.scalars(
            select(LoginFailure.created_at)
            .where(LoginFailure.key == key, LoginFailure.created_at > now - window)
            .order_by(LoginFailure.created_at.desc())
            .limit(limit)
        )
    ).all()
    if len(times) < limit:
        return None
    return max(1, int((times[-1] + window - now).total_seconds()) + 1)


def _lock_id(key: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit number.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], signed=True)
