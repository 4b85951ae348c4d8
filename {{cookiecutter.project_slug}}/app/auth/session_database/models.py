"""The ``user_session`` table: one row per logged-in browser."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime

USER_AGENT_LENGTH = 255
# The longest textual IPv6 address (with an embedded IPv4 one).
IP_LENGTH = 45


class UserSession(Base):
    """One logged-in browser of a user."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the id in the cookie; the id itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the API shows; random, so it tells nothing about the cookie.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Absolute end of the session; cleanup deletes by it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_LENGTH))
    ip_address: Mapped[str | None] = mapped_column(String(IP_LENGTH))
    # The user's security stamp at login: a new stamp ends the session.
    security_stamp: Mapped[str] = mapped_column(String(32))
