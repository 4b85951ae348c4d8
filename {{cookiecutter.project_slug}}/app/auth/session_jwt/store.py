"""Refresh tokens: issuing, spending and revoking them.

A refresh token is an opaque random string whose SHA-256 alone is stored.
Each use spends it and issues a new pair in the same family, which keeps the
absolute lifetime set at login. A spent token presented again means that two
parties hold it, so the whole family is revoked (RFC 9700 4.14.2). That holds
for two concurrent refreshes with one token as well: exactly one wins, the
other is a reuse, and the family (the winner's new token too) is revoked.

With ``REFRESH_REUSE_INTERVAL`` set, a token spent less than that many
seconds ago answers with the successor its spending issued, as long as that
successor is still live: a client that lost the answer to a refresh (a
dropped connection, two tabs refreshing at once) keeps its session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth import service
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.rbac import Principal, principal_select, to_principal
from app.auth.session.models import RefreshToken
from app.auth.session.schemas import TokenPair
from app.auth.session.tokens import Tokens
from app.cleanup import delete_in_batches
from app.db import utcnow

# The user as the database has it now; built once.
PRINCIPAL_NOW = principal_select(User.is_active, User.security_stamp).where(
    User.id == bindparam("uid")
)


def hash_token(token: str) -> str:
    """Return what the database stores of a refresh token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """Return the first refresh token of a family: 256 random bits."""
    return secrets.token_urlsafe(32)


def successor_of(key: bytes, token: str) -> str:
    """Return the refresh token that spending ``token`` issues.

    The successor is derived, HMAC(key, token), rather than drawn at random,
    so that a just spent token presented again can be answered with the same
    successor (REFRESH_REUSE_INTERVAL) although only hashes are stored: it is
    recomputed from the token presented. Only the server's key can compute
    it, so a copy of the database alone yields no usable token, and no
    successor is stored in a form that could be read back. It is as
    unpredictable as a random one to whoever lacks the key, and the first
    token of every family is random.
    """
    digest = hmac.new(key, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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
    refresh_token: str,
) -> TokenPair:
    """Store ``refresh_token`` in ``family`` and commit; return the pair."""
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


async def spent_since(
    db: AsyncSession, token_hash: str, successor_hash: str, since: datetime
) -> Any | None:
    """Return the row of a token spent after ``since`` whose successor is live.

    Its user, family, expiry and stamp, as :func:`spend` returns them; ``None``
    when the token was spent earlier, never, or its successor is spent,
    revoked or expired, or the family is revoked. A refresh that is spending
    the token holds its row until it commits the successor, so a concurrent
    request with the same token gets here once the successor is stored.
    """
    now = utcnow()
    successor = aliased(RefreshToken)
    return (
        await db.execute(
            select(
                RefreshToken.user_id,
                RefreshToken.family,
                RefreshToken.expires_at,
                RefreshToken.security_stamp,
            ).where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at > since,
                successor.token_hash == successor_hash,
                successor.family == RefreshToken.family,
                successor.used_at.is_(None),
                successor.revoked_at.is_(None),
                successor.expires_at > now,
                ~_family_revoked(),
            )
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


async def revoke_if_reused(
    db: AsyncSession, token_hash: str, now: datetime, request: Request
) -> None:
    """Revoke the family of a spent token presented again; record it.

    The caller commits.
    """
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
        record(
            db,
            EventType.REFRESH_REUSED,
            request,
            user_id=spent.user_id,
            actor_id=None,
            detail={"family": spent.family},
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
    ended = (RefreshToken.expires_at <= utcnow()) | RefreshToken.revoked_at.is_not(None)
    return await delete_in_batches(db, RefreshToken.id, ended, by=RefreshToken.family)


def _family_revoked() -> ColumnElement[bool]:
    # A family is dead once any of its tokens is revoked, even one stored by a
    # refresh that raced the revocation.
    member = aliased(RefreshToken)
    return exists().where(
        member.family == RefreshToken.family, member.revoked_at.is_not(None)
    )
