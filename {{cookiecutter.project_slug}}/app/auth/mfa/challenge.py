"""The ``mfa_token``: what the password step yields when MFA is on.

A random token, stored only as its SHA-256, good for one login within five
minutes and dead after five wrong codes. No session exists until the second
factor passes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.events import note, origin
from app.auth.mfa.models import MfaChallenge
from app.auth.models import User
from app.cleanup import delete_in_batches
from app.db import utcnow

LIFETIME = timedelta(minutes=5)
MAX_FAILURES = 5
# token_urlsafe(32) has 43 characters; this only bounds what a request sends.
MAX_TOKEN_LENGTH = 256


class MfaRequired(BaseModel):
    """What login answers when the user has MFA on: no session yet."""

    mfa_required: Literal[True] = True
    mfa_token: str


def hash_token(token: str) -> str:
    """Return what the table stores of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


async def second_factor_required(
    request: Request, response: Response, db: AsyncSession, user: User
) -> MfaRequired:
    """Store a challenge for ``user`` and answer its token (login's first step)."""
    token = secrets.token_urlsafe(32)
    db.add(
        MfaChallenge(
            token_hash=hash_token(token),
            user_id=user.id,
            security_stamp=user.security_stamp,
            expires_at=utcnow() + LIFETIME,
        )
    )
    await db.commit()
    # Not an event yet: login.succeeded (or mfa.failed) follows the second step.
    note(
        "login.mfa_required",
        warning=False,
        user_id=user.id,
        actor_id=user.id,
        ip=origin(request)[0],
    )
    response.headers["Cache-Control"] = "no-store"
    return MfaRequired(mfa_token=token)


async def find(db: AsyncSession, token: str) -> MfaChallenge | None:
    """Return the live challenge of ``token``, or ``None``."""
    return await db.scalar(
        select(MfaChallenge).where(
            MfaChallenge.token_hash == hash_token(token),
            MfaChallenge.expires_at > utcnow(),
            MfaChallenge.failures < MAX_FAILURES,
        )
    )


async def fail(db: AsyncSession, challenge_id: int) -> None:
    """Count a wrong code against a challenge; the last one allowed kills it."""
    await db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge_id)
        .values(failures=MfaChallenge.failures + 1)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        delete(MfaChallenge).where(
            MfaChallenge.id == challenge_id, MfaChallenge.failures >= MAX_FAILURES
        )
    )


async def spend(db: AsyncSession, challenge_id: int) -> bool:
    """Delete a live challenge; return whether this request was the one to do it."""
    result = await db.execute(
        delete(MfaChallenge).where(
            MfaChallenge.id == challenge_id,
            MfaChallenge.failures < MAX_FAILURES,
            MfaChallenge.expires_at > utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete challenges past their lifetime, in batches; return how many."""
    return await delete_in_batches(
        db, MfaChallenge.id, MfaChallenge.expires_at <= utcnow()
    )
