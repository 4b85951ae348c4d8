"""The user account, and the failed logins that throttle guessing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class User(Base):
    """Someone who can log in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness ignores case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped to end every session of the user at once (password change,
    # deactivation, "log out everywhere").
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """One failed login, counted per account and per client to throttle guessing.

    Kept in the database so that every process behind a load balancer sees
    the same counts.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "account:<sha256 of the email>" or "client:<address>".
    key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
