"""Keys derived from SECRET_KEY: encrypting TOTP secrets, hashing recovery codes.

Each key is derived with HKDF for one purpose, so neither use weakens the
other nor the signing of sessions. SECRET_KEY_FALLBACKS still decrypt and
match, so the key can rotate without locking anyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import Settings

_NONCE_BYTES = 12
_TOTP_INFO = b"app.auth.mfa totp secret"
_RECOVERY_INFO = b"app.auth.mfa recovery code"


class UndecryptableError(Exception):
    """No configured key decrypts the secret (SECRET_KEY changed without fallback)."""


@lru_cache(maxsize=32)
def _derive(key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        key.encode()
    )


def _newest_first(settings: Settings) -> list[str]:
    return list(reversed(settings.signing_keys))


def _associated(user_id: int) -> bytes:
    # Binds a ciphertext to its user: copying one user's row to another fails.
    return f"mfa_totp:{user_id}".encode()


def encrypt_secret(settings: Settings, user_id: int, secret: bytes) -> bytes:
    """Return the stored form of a TOTP secret: nonce, ciphertext and tag."""
    nonce = os.urandom(_NONCE_BYTES)
    key = _derive(_newest_first(settings)[0], _TOTP_INFO)
    return nonce + AESGCM(key).encrypt(nonce, secret, _associated(user_id))


def decrypt_secret(settings: Settings, user_id: int, stored: bytes) -> bytes:
    """Return the TOTP secret of ``stored``, or raise :class:`UndecryptableError`."""
    nonce, ciphertext = stored[:_NONCE_BYTES], stored[_NONCE_BYTES:]
    for key in _newest_first(settings):
        try:
            return AESGCM(_derive(key, _TOTP_INFO)).decrypt(
                nonce, ciphertext, _associated(user_id)
            )
        except InvalidTag:
            continue
    raise UndecryptableError(user_id)


def recovery_hashes(settings: Settings, user_id: int, code: str) -> list[str]:
    """Return what the table may hold for ``code``: one hash per configured key.

    A fast keyed hash is enough here, unlike for passwords: a recovery code
    has 80 random bits, so nobody can guess it from its hash even quickly,
    and the key (from SECRET_KEY) is not in the database at all.
    """
    message = f"{user_id}:{code}".encode()
    return [
        hmac.new(_derive(key, _RECOVERY_INFO), message, hashlib.sha256).hexdigest()
        for key in _newest_first(settings)
    ]
