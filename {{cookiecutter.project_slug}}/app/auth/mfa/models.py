"""The tables of two-factor authentication."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class TotpCredential(Base):
    """A user's TOTP secret, pending until confirmed (``users.mfa_enabled``)."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Nonce, ciphertext and tag of the secret (AES-GCM, see .keys): a read of
    # the database alone does not give the secret.
    secret: Mapped[bytes] = mapped_column(LargeBinary(128))
    # The last time step whose code was accepted: a code is good once.
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(Base):
    """One unused recovery code, by its keyed hash; using it deletes the row."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))


class MfaChallenge(Base):
    """A password step that passed, waiting for its second factor (``mfa_token``)."""

    __tablename__ = "mfa_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the mfa_token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The user's security stamp at the password step: a password change or
    # reset in between voids the challenge.
    security_stamp: Mapped[str] = mapped_column(String(32))
    failures: Mapped[int] = mapped_column(default=0)
    # Cleanup deletes by it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
