"""What the signed-cookie strategy keeps for one application."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import Signer

from app.auth.session.cookie import SessionCodec
from app.reader import Reader


@dataclass(frozen=True, slots=True)
class SessionState:
    """The cookie's codec and name, the CSRF signer, and the database reader."""

    codec: SessionCodec
    cookie_name: str
    csrf_signer: Signer
    # The hot-path read of the user's security stamp (one per request).
    reader: Reader
