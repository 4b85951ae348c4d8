"""Enrolling, confirming, checking and removing a user's second factor.

Every function leaves the commit to its caller, so a change and what goes
with it (a new security stamp, the throttle's count) land together.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from typing import Literal

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.mfa import keys, totp
from app.auth.mfa.models import MfaChallenge, RecoveryCode, TotpCredential
from app.auth.models import User
from app.config import Settings

RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits each
_TOTP_CODE = re.compile(r"[0-9]{6}")

Factor = Literal["totp", "recovery"]

log = logging.getLogger("app.auth")


async def enrol(db: AsyncSession, settings: Settings, user: User) -> bytes:
    """Store a new pending secret for ``user`` (replacing any); return it."""
    secret = totp.new_secret()
    await db.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    db.add(
        TotpCredential(
            user_id=user.id, secret=keys.encrypt_secret(settings, user.id, secret)
        )
    )
    return secret


async def confirm(
    db: AsyncSession, settings: Settings, user: User, code: str
) -> list[str] | None:
    """Turn MFA on if ``code`` fits the pending secret; return new recovery codes."""
    if not await accept_totp(db, settings, user.id, code):
        return None
    user.mfa_enabled = True
    return await _new_recovery_codes(db, settings, user.id)


async def accept_totp(
    db: AsyncSession, settings: Settings, user_id: int, code: str
) -> bool:
    """Return whether ``code`` is the user's TOTP code, spending its step.

    The step is recorded by a conditional update, so of two requests with
    one code only one succeeds: a code is accepted once.
    """
    credential = await db.get(TotpCredential, user_id)
    if credential is None or not _TOTP_CODE.fullmatch(code):
        return False
    try:
        secret = keys.decrypt_secret(settings, user_id, credential.secret)
    except keys.UndecryptableError:
        log.error("mfa secret undecryptable (SECRET_KEY changed?) user_id=%s", user_id)
        return False
    step = totp.matching_step(secret, code, credential.last_step)
    if step is None:
        return False
    result = await db.execute(
        update(TotpCredential)
        .where(
            TotpCredential.user_id == user_id,
            or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def use_recovery_code(
    db: AsyncSession, settings: Settings, user_id: int, code: str
) -> bool:
    """Return whether ``code`` is an unused recovery code of the user; spend it."""
    normalized = normalize_recovery_code(code)
    if not normalized:
        return False
    result = await db.execute(
        delete(RecoveryCode).where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash.in_(
                keys.recovery_hashes(settings, user_id, normalized)
            ),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def check(
    db: AsyncSession,
    settings: Settings,
    user_id: int,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
) -> Factor | None:
    """Spend whichever factor was given; return which one passed, or ``None``."""
    if code is not None and await accept_totp(db, settings, user_id, code):
        return "totp"
    if recovery_code is not None and await use_recovery_code(
        db, settings, user_id, recovery_code
    ):
        return "recovery"
    return None


def split_code(code: str) -> dict[str, str]:
    """Sort a ``code`` that may be a TOTP code or a recovery code."""
    return {"code": code} if _TOTP_CODE.fullmatch(code) else {"recovery_code": code}


async def remove(db: AsyncSession, user: User) -> None:
    """Turn MFA off for ``user``: secret, recovery codes and challenges go."""
    for table in (TotpCredential, RecoveryCode, MfaChallenge):
        await db.execute(delete(table).where(table.user_id == user.id))
    user.mfa_enabled = False


def normalize_recovery_code(code: str) -> str:
    """Return the form a recovery code is hashed in: no dashes, no spaces, lower."""
    return re.sub(r"[\s-]", "", code).lower()


async def _new_recovery_codes(
    db: AsyncSession, settings: Settings, user_id: int
) -> list[str]:
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode().lower()
        code = "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
        newest = keys.recovery_hashes(settings, user_id, normalize_recovery_code(code))
        db.add(RecoveryCode(user_id=user_id, code_hash=newest[0]))
        codes.append(code)
    return codes
