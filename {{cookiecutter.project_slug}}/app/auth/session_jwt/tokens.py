"""Access tokens: their keys, issuing them, and checking them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from app.auth.rbac import Principal, from_claims, to_claims
from app.cache import VerifiedCache
from app.config import Settings

# RFC 9068 header type: a refresh token, or any other JWT signed with the same
# key, is never taken for an access token.
ACCESS_JWT_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti"]
# Seconds of clock skew tolerated between instances (RFC 8725 3.8: keep it small).
LEEWAY = 10
# Verified access tokens remembered per process (about 1 KiB each).
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Bearer:
    """What a valid access token says: its principal and the stamp it carries."""

    principal: Principal
    stamp: str
    expires: int


@dataclass(frozen=True, slots=True)
class Keys:
    """The key material and lifetimes, parsed once per application."""

    algorithm: str
    signing_key: Any
    # The signing key's counterpart first, then older keys that still verify.
    verifying_keys: tuple[Any, ...]
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    # Keys the HMAC that derives a refresh token's successor from it (store.py).
    successor_key: bytes
    # Seconds a spent refresh token still answers with its successor.
    reuse_interval: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        """Parse the keys the settings name (the settings have validated them)."""
        algorithm = jwt.get_algorithm_by_name(settings.jwt_algorithm)
        if settings.jwt_private_key is None:
            # HMAC: SECRET_KEY signs; it and SECRET_KEY_FALLBACKS verify.
            keys = [
                algorithm.prepare_key(key) for key in reversed(settings.signing_keys)
            ]
            signing, verifying = keys[0], tuple(keys)
        else:
            signing = algorithm.prepare_key(settings.jwt_private_key.get_secret_value())
            older = [
                algorithm.prepare_key(pem) for pem in settings.jwt_public_key_fallbacks
            ]
            verifying = (signing.public_key(), *older)
        return cls(
            algorithm=settings.jwt_algorithm,
            signing_key=signing,
            verifying_keys=verifying,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl=settings.access_token_ttl,
            refresh_ttl=settings.refresh_token_ttl,
            successor_key=_derived_key(settings, b"refresh-token-successor"),
            reuse_interval=settings.refresh_reuse_interval,
        )


def _derived_key(settings: Settings, purpose: bytes) -> bytes:
    # A key of its own for each use of SECRET_KEY: a value made for one
    # purpose (an access token's signature) is never valid for another.
    secret = settings.signing_keys[-1].encode()
    return hmac.new(secret, purpose, hashlib.sha256).digest()


class Tokens:
    """Issues and checks access tokens with one application's keys."""

    __slots__ = ("_verified", "keys")

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        # A token never changes, so checking its signature again proves
        # nothing new; its expiry is still checked on every use.
        self._verified: VerifiedCache[Bearer] = VerifiedCache(VERIFIED_CACHE_SIZE)

    def issue(self, principal: Principal, stamp: str) -> str:
        """Return a signed access token for ``principal`` with its security stamp."""
        keys = self.keys
        now = int(time.time())
        claims = {
            "iss": keys.issuer,
            "aud": keys.audience,
            "sub": str(principal.id),
            "iat": now,
            "exp": now + keys.access_ttl,
            "jti": secrets.token_urlsafe(16),
            "email": principal.email,
            **to_claims(principal),
            "stamp": stamp,
        }
        return jwt.encode(
            claims,
            keys.signing_key,
            algorithm=keys.algorithm,
            headers={"typ": ACCESS_JWT_TYPE},
        )

    def verify(self, token: str) -> Bearer | None:
        """Return what an access token says, or ``None`` if it is invalid."""
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached.expires + LEEWAY:
                return cached
            self._verified.discard(token)
            return None
        verified = self._decode(token)
        if verified is not None:
            self._verified.put(token, verified)
        return verified

    def _decode(self, token: str) -> Bearer | None:
        keys = self.keys
        for key in keys.verifying_keys:
            try:
                decoded = jwt.decode_complete(
                    token,
                    key,
                    # Pinned: the token's own ``alg`` (or ``kid``, ``jku``...)
                    # never chooses how it is checked.
                    algorithms=[keys.algorithm],
                    issuer=keys.issuer,
                    audience=keys.audience,
                    leeway=LEEWAY,
                    options={
                        "require": REQUIRED_CLAIMS,
                        "strict_aud": True,
                        "enforce_minimum_key_length": True,
                    },
                )
            except jwt.InvalidSignatureError:
                continue  # an older key may have signed it
            except jwt.PyJWTError:
                return None
            if str(decoded["header"].get("typ", "")).lower() != ACCESS_JWT_TYPE:
                return None
            return _bearer(decoded["payload"])
        return None


def _bearer(claims: dict[str, Any]) -> Bearer | None:
    sub, email, stamp = claims["sub"], claims.get("email"), claims.get("stamp")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdecimal()):
        return None
    if not isinstance(email, str) or not isinstance(stamp, str):
        return None
    principal = from_claims(int(sub), email, claims)
    return None if principal is None else Bearer(principal, stamp, claims["exp"])
