"""Login throttling: too many failures for an account or a client mean 429.

Failures are rows in the database, so the limits hold across every process
that shares it. A success clears the account's failures; a client's expire
with the window.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import LoginFailure
from app.config import Settings
from app.db import utcnow


def account_key(email: str) -> str:
    """Return the throttling key of an account (a hash: no email at rest here)."""
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def client_key(address: str) -> str:
    """Return the throttling key of a client address."""
    return f"client:{address}"[:100]


async def retry_after(
    *, db: AsyncSession, settings: Settings, email: str, client: str
) -> int | None:
    """Return the seconds to wait before trying again, or ``None`` when allowed."""
    window = timedelta(seconds=settings.login_failure_window)
    limits = {
        account_key(email): settings.login_failures_per_account,
        client_key(client): settings.login_failures_per_client,
    }
    waits = [await _wait(db, key, limit, window) for key, limit in limits.items()]
    return max((wait for wait in waits if wait is not None), default=None)


async def record_failure(*, db: AsyncSession, email: str, client: str) -> None:
    """Count one failed login against the account and the client; the caller commits."""
    db.add_all(
        [LoginFailure(key=account_key(email)), LoginFailure(key=client_key(client))]
    )


async def clear_account(*, db: AsyncSession, email: str) -> None:
    """Forget the account's failures after its owner logged in; the caller commits."""
    await db.execute(delete(LoginFailure).where(LoginFailure.key == account_key(email)))


async def cleanup(*, db: AsyncSession, settings: Settings) -> int:
    """Delete failures older than the window; return how many. The caller commits."""
    since = utcnow() - timedelta(seconds=settings.login_failure_window)
    result = await db.execute(
        delete(LoginFailure).where(LoginFailure.created_at <= since)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def _wait(
    db: AsyncSession, key: str, limit: int, window: timedelta
) -> int | None:
    now = utcnow()
    # The limit-th most recent failure in the window: once it leaves the
    # window, the count drops below the limit again.
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
