"""The tokens that email links carry: verification, reset, email change.

One table serves every purpose. A token is 256 random bits, handed out once
(in a link) and stored only as its SHA-256; it names one user and one
purpose, and expires (verification 24 h, reset and email change 1 h). It is
spent by deleting its row, in the statement that finds it, so two requests
with one token cannot both succeed. A new token voids the user's older ones
of the same purpose, and every other change that makes them stale (a
password change or reset, a new address) voids them too.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, ForeignKey, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.cleanup import delete_in_batches
from app.db import Base, UTCDateTime, utcnow

# token_urlsafe(32) has 43 characters; this only bounds what a request sends.
MAX_TOKEN_LENGTH = 256


class Purpose(StrEnum):
    """What a token may be used for, and nothing else."""

    VERIFY = "verify"
    RESET = "reset"
    EMAIL = "email"


LIFETIMES: dict[Purpose, timedelta] = {
    Purpose.VERIFY: timedelta(hours=24),
    Purpose.RESET: timedelta(hours=1),
    Purpose.EMAIL: timedelta(hours=1),
}


class AccountToken(Base):
    """One token sent by email, by its hash."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    # The address the link went to (for an email change, the new one): a
    # token stops fitting once the account's address is another.
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Cleanup deletes by it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a good token names: its user, and the address it was sent to."""

    user_id: int
    email: str


def hash_token(token: str) -> str:
    """Return what the table stores of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(db: AsyncSession, *, user_id: int, purpose: Purpose, email: str) -> str:
    """Store a new token, voiding the user's older ones of ``purpose``; return it.

    The caller commits.
    """
    await void(db, user_id, (purpose,))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        AccountToken(
            token_hash=hash_token(token),
            user_id=user_id,
            purpose=purpose.value,
            email=email,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    await db.flush()
    return token


async def peek(db: AsyncSession, *, token: str, purpose: Purpose) -> Redeemed | None:
    """Return what a live token of ``purpose`` names, without spending it."""
    row = (
        await db.execute(
            select(AccountToken.user_id, AccountToken.email).where(
                *_live(token, purpose)
            )
        )
    ).first()
    return None if row is None else Redeemed(row.user_id, row.email)


async def spend(db: AsyncSession, *, token: str, purpose: Purpose) -> Redeemed | None:
    """Delete a live token of ``purpose``; return what it named, or ``None``.

    ``None`` for a token that is unknown, used, expired or of another
    purpose (which stays unspent). The caller commits.
    """
    row = (
        await db.execute(
            delete(AccountToken)
            .where(*_live(token, purpose))
            .returning(AccountToken.user_id, AccountToken.email)
        )
    ).first()
    return None if row is None else Redeemed(row.user_id, row.email)


async def void(
    db: AsyncSession, user_id: int, purposes: Sequence[Purpose] = tuple(Purpose)
) -> None:
    """Delete the user's tokens of ``purposes`` (all by default); the caller commits."""
    await db.execute(
        delete(AccountToken).where(
            AccountToken.user_id == user_id,
            AccountToken.purpose.in_([purpose.value for purpose in purposes]),
        )
    )


async def issued_since(
    db: AsyncSession, *, user_id: int, purpose: Purpose, since: datetime
) -> bool:
    """Return whether a live token of ``purpose`` was issued after ``since``."""
    found = await db.scalar(
        select(AccountToken.id).where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose.value,
            AccountToken.created_at > since,
            AccountToken.expires_at > utcnow(),
        )
    )
    return found is not None


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete expired tokens, in batches; return how many."""
    return await delete_in_batches(
        db, AccountToken.id, AccountToken.expires_at <= utcnow()
    )


def _live(token: str, purpose: Purpose) -> tuple[ColumnElement[bool], ...]:
    return (
        AccountToken.token_hash == hash_token(token),
        AccountToken.purpose == purpose.value,
        AccountToken.expires_at > utcnow(),
    )
