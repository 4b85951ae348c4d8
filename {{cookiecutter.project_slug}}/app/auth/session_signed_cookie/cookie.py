"""What a session cookie carries, and its signing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from app.cache import VerifiedCache

SALT = "app.auth.session"
# Verified cookies remembered per process (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class SessionData:
    """What the cookie carries."""

    uid: int  # user id
    stamp: str  # the user's security stamp at login
    sid: str  # random per login; binds the CSRF token to this session
    iat: int  # login time, for the absolute lifetime
    seen: int  # last activity, for the idle timeout


class SessionCodec:
    """Signs session data into a cookie value, and checks it back."""

    __slots__ = ("_serializer", "_verified")

    def __init__(self, serializer: URLSafeSerializer) -> None:
        self._serializer = serializer
        # Its times are still checked, and the security stamp read, on every
        # request: only the signature check is saved.
        self._verified: VerifiedCache[SessionData] = VerifiedCache(VERIFIED_CACHE_SIZE)

    def decode(self, raw: str) -> SessionData | None:
        """Return what a cookie carries, or ``None`` if it is not ours."""
        data = self._verified.get(raw)
        if data is not None:
            return data
        try:
            data = _session_data(self._serializer.loads(raw))
        except BadData:
            return None
        if data is not None:
            self._verified.put(raw, data)
        return data

    def encode(self, data: SessionData) -> str:
        """Return the signed cookie value for ``data``."""
        return self._serializer.dumps(
            {
                "uid": data.uid,
                "stamp": data.stamp,
                "sid": data.sid,
                "iat": data.iat,
                "seen": data.seen,
            }
        )


def make_serializer(keys: list[str]) -> URLSafeSerializer:
    """Return the session serializer; the last key signs, all of them verify."""
    return URLSafeSerializer(
        keys,
        salt=SALT,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )


def _session_data(data: Any) -> SessionData | None:
    if not isinstance(data, dict):
        return None
    try:
        return SessionData(
            uid=_int(data["uid"]),
            stamp=_str(data["stamp"]),
            sid=str(data["sid"]),
            iat=_int(data["iat"]),
            seen=_int(data["seen"]),
        )
    except (KeyError, TypeError):
        return None


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(value)
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(value)
    return value
