"""What the JWT strategy keeps for one application."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.session.tokens import Tokens


@dataclass(frozen=True, slots=True)
class SessionState:
    """The access tokens' keys and their check."""

    tokens: Tokens
