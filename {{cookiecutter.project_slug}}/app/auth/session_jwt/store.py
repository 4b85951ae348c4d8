"""Refresh tokens: issuing, spending and revoking them.

A refresh token is an opaque random string whose SHA-256 alone is stored.
Each use spends it and issues a new pair in the same family, which keeps the
absolute lifetime set at login. A spent token presented again means that two
parties hold it, so the whole family is revoked (RFC 9700 4.14.2). That holds
for two concurrent refreshes with one token as well: exactly one wins, the
other is a reuse, and the family (the winner's new token too) is revoked.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth import service
from app.auth.models import User
from app.auth.rbac import Principal, principal_select, to_principal
from app.auth.session.models import RefreshToken
from app.auth.session.schemas import TokenPair
from app.auth.session.tokens import Tokens
from app.db import utcnow

logger = logging.getLogger(__name__)

# The user as the database has it now; built once.
PRINCIPAL_NOW = principal_select(User.is_active, User.security_stamp).where(
    User.id == bindparam("uid")
)


def hash_token(token: str) -> str:
    """Return what the database stores of a refresh token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


async def load_principal(
    db: AsyncSession, user_id: int, stamp: str
) -> Principal | None:
    """Return the user as now, if still active and still with ``stamp``."""
    rows = (await db.execute(PRINCIPAL_NOW, {"uid": user_id})).all()
    if not rows or not rows[0].is_active or rows[0].security_stamp != stamp:
        return None
    return to_principal(rows)


async def issue_pair(
    db: AsyncSession,
    tokens: Tokens,
    principal: Principal,
    *,
    stamp: str,
    family: str,
    expires_at: datetime,
) -> TokenPair:
    """Store a new refresh token of ``family`` and commit; return the pair."""
    refresh_token = secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            token_hash=hash_token(refresh_token),
            user_id=principal.id,
            family=family,
            expires_at=expires_at,
            security_stamp=stamp,
        )
    )
    await db.commit()
    return TokenPair(
        access_token=tokens.issue(principal, stamp),
        expires_in=tokens.keys.access_ttl,
        refresh_token=refresh_token,
    )


async def spend(db: AsyncSession, token_hash: str, now: datetime) -> Any | None:
    """Mark a live refresh token used; return its row's user, family, expiry, stamp.

    One conditional UPDATE spends the token: of two concurrent requests with
    the same token, the database lets exactly one match. ``None`` when the
    token is unknown, spent, revoked or expired.
    """
    return (
        await db.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
                ~_family_revoked(),
            )
            .values(used_at=now)
            .returning(
                RefreshToken.user_id,
                RefreshToken.family,
                RefreshToken.expires_at,
                RefreshToken.security_stamp,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()


async def family_of(db: AsyncSession, token_hash: str, user_id: int) -> str | None:
    """Return the family of a refresh token of ``user_id``, if it is one."""
    return await db.scalar(
        select(RefreshToken.family).where(
            RefreshToken.token_hash == token_hash, RefreshToken.user_id == user_id
        )
    )


async def revoke(db: AsyncSession, where: ColumnElement[bool], now: datetime) -> None:
    """Revoke every live refresh token that matches ``where``."""
    await db.execute(
        update(RefreshToken)
        .where(where, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_if_reused(db: AsyncSession, token_hash: str, now: datetime) -> None:
    """Revoke the family of a spent token presented again."""
    spent = (
        await db.execute(
            select(RefreshToken.user_id, RefreshToken.family).where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_not(None),
            )
        )
    ).first()
    if spent is not None:
        await revoke(db, RefreshToken.family == spent.family, now)
        logger.warning(
            "Spent refresh token presented again; revoked its family (user %s)",
            spent.user_id,
        )


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user: a new security stamp, every family revoked.

    Access tokens already issued still answer reads until they expire; the
    new stamp refuses them every unsafe request at once.
    """
    await service.rotate_security_stamp(db=db, user_id=user_id)
    await revoke(db, RefreshToken.user_id == user_id, utcnow())


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete the tokens of expired or revoked families; return how many.

    Spent tokens of a live family stay: they are how a reuse is recognised.
    """
    dead = select(RefreshToken.family).where(
        (RefreshToken.expires_at <= utcnow()) | RefreshToken.revoked_at.is_not(None)
    )
    connection = await db.connection()
    result = await connection.execute(
        delete(RefreshToken).where(RefreshToken.family.in_(dead))
    )
    return result.rowcount


def _family_revoked() -> ColumnElement[bool]:
    # A family is dead once any of its tokens is revoked, even one stored by a
    # refresh that raced the revocation.
    member = aliased(RefreshToken)
    return exists().where(
        member.family == RefreshToken.family, member.revoked_at.is_not(None)
    )
