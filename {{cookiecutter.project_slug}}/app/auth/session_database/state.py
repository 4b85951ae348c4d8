"""What the database-session strategy keeps for one application."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import Signer

from app.reader import Reader


@dataclass(frozen=True, slots=True)
class SessionState:
    """The cookie's name, the CSRF signer, and the database reader."""

    cookie_name: str
    csrf_signer: Signer
    # The hot-path read of the session and its user (one per request).
    reader: Reader
