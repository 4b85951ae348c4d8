"""The user account, and the attempts that throttle guessing."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


def new_security_stamp() -> str:
    """Return a fresh random security stamp (128 bits, hex)."""
    return secrets.token_hex(16)


class User(Base):
    """Someone who can log in."""

    __tablename__ = "users"
    # SQLite would otherwise hand the id of the last deleted user to the next
    # one; an id is never reused (PostgreSQL's sequences never go back).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness ignores case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Set once the owner follows a link sent to ``email`` (app/auth/recovery.py).
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Two-factor authentication is on: a TOTP secret was confirmed
    # (app/auth/mfa/). Read with the principal, so every request knows it.
    mfa_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Every credential (cookie, session row, refresh token, access token)
    # carries the stamp it was issued under; a new one, at a password change,
    # a deactivation or "log out everywhere", ends them all at once. Random,
    # so a later account never matches what an earlier one was issued.
    security_stamp: Mapped[str] = mapped_column(String(32), default=new_security_stamp)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """One attempt counted by the throttle (:mod:`app.auth.throttle`).

    A login or password check is counted before the password is checked and
    forgotten again if it succeeds; a registration is counted per client.
    Kept in the database so that every process behind a load balancer sees
    the same counts.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "account:<sha256 of the email>", "client:<address>",
    # "register:<address>", or "reset-" or "verify-" (the mail a request
    # asked for) and an account or client key.
    key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
