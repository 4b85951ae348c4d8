"""JWT sessions: short-lived access tokens and rotating refresh tokens.

An access token is a JWT signed with the one configured algorithm. It carries
what a request needs to know about its user (id, email, its roles and
permissions where the project has them, as at issue time, and the user's
security stamp), so checking it for a read needs no database: only the
signature and the claims. Nothing can recall an
access token once issued, which is why it lives at most 15 minutes; for reads,
logout and deactivation take effect when it expires. An unsafe request (POST,
PUT, PATCH, DELETE) is authorised against the database instead: the user must
exist, be active and still have the token's stamp, and its grants are
today's, so a demoted or deactivated user's token changes nothing.

A refresh token is an opaque random string whose SHA-256 alone is stored.
Each use spends it and issues a new pair in the same family, which keeps the
absolute lifetime set at login. A spent token presented again means that two
parties hold it, so the whole family is revoked (RFC 9700 4.14.2). That holds
for two concurrent refreshes with one token as well: exactly one wins, the
other is a reuse, and the family (the winner's new token too) is revoked.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import jwt
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Request,
    Response,
    status,
)
from fastapi.exception_handlers import http_exception_handler
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    String,
    bindparam,
    delete,
    exists,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth import service
from app.auth.credentials import INVALID_CREDENTIALS, VerifiedUser
from app.auth.models import User
from app.auth.rbac import from_claims, principal_select, to_claims, to_principal
from app.auth.strategy import Principal
from app.config import Settings
from app.db import Base, SessionDep, UTCDateTime, utcnow

# RFC 9068 header type: a refresh token, or any other JWT signed with the same
# key, is never taken for an access token.
ACCESS_JWT_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti"]
# Seconds of clock skew tolerated between instances (RFC 8725 3.8: keep it small).
LEEWAY = 10
# Verified access tokens remembered per process (about 1 KiB each).
VERIFIED_CACHE_SIZE = 10_000
# token_urlsafe(32) has 43 characters; this only bounds the work of a request.
MAX_REFRESH_TOKEN_LENGTH = 8192
# Methods that change nothing: their requests may trust the token's claims.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"])


class RefreshToken(Base):
    """One refresh token; only its hash is stored."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Every token rotated from one login shares the family and its expiry.
    family: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The user's security stamp at login: a new stamp ends the family.
    security_stamp: Mapped[str] = mapped_column(String(32))


class TokenPair(BaseModel):
    """What login and refresh answer."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 type name
    expires_in: int
    refresh_token: str


class RefreshTokenBody(BaseModel):
    """The body of ``/auth/refresh`` and ``/auth/logout``."""

    refresh_token: str = Field(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH)


@dataclass(frozen=True, slots=True)
class Bearer:
    """What a valid access token says: its principal and the stamp it carries."""

    principal: Principal
    stamp: str
    expires: int


@dataclass(frozen=True, slots=True)
class Tokens:
    """The key material and lifetimes, built once per application."""

    algorithm: str
    signing_key: Any
    # The signing key's counterpart first, then older keys that still verify.
    verifying_keys: tuple[Any, ...]
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    # Tokens already verified, with their expiry: a token never changes, so
    # checking its signature again proves nothing new.
    _verified: dict[str, Bearer] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
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
        )

    def issue(self, principal: Principal, stamp: str) -> str:
        """Return a signed access token for ``principal`` with its security stamp."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(principal.id),
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": secrets.token_urlsafe(16),
            "email": principal.email,
            **to_claims(principal),
            "stamp": stamp,
        }
        return jwt.encode(
            claims,
            self.signing_key,
            algorithm=self.algorithm,
            headers={"typ": ACCESS_JWT_TYPE},
        )

    def verify(self, token: str) -> Bearer | None:
        """Return what an access token says, or ``None`` if it is invalid."""
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached.expires + LEEWAY:
                return cached
            del self._verified[token]
            return None
        verified = self._decode(token)
        if verified is None:
            return None
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = verified
        return verified

    def _decode(self, token: str) -> Bearer | None:
        for key in self.verifying_keys:
            try:
                decoded = jwt.decode_complete(
                    token,
                    key,
                    # Pinned: the token's own ``alg`` (or ``kid``, ``jku``...)
                    # never chooses how it is checked.
                    algorithms=[self.algorithm],
                    issuer=self.issuer,
                    audience=self.audience,
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


def install(app: FastAPI, settings: Settings) -> None:
    """Build the key material once; bearer tokens need no CSRF protection."""
    app.state.tokens = Tokens.from_settings(settings)
    app.add_exception_handler(StarletteHTTPException, _bearer_challenge)


class _BearerPrincipal(OAuth2PasswordBearer):
    """The bearer scheme and the check of its token, as one dependency.

    It reads the Authorization header only (never the URL) and declares the
    scheme in the OpenAPI schema, so the docs page's Authorize button logs
    in. Verifying in the scheme's own call, rather than in a dependency on
    it, spares every authenticated request a level of dependency solving.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Principal:
        """Return the principal of the bearer access token, or answer 401.

        A read trusts the token until it expires and reads no database. An
        unsafe request gets the principal as the database has it now, or 401
        when the user is gone, inactive or has a new security stamp. Nothing
        is set on ``response``.
        """
        token = await super().__call__(request)
        if token is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
        bearer = _tokens(request).verify(token)
        if bearer is None:
            raise _invalid_token()
        if request.method in SAFE_METHODS:
            return bearer.principal
        engine: AsyncEngine = request.app.state.engine
        async with engine.connect() as connection:
            rows = (
                await connection.execute(_PRINCIPAL_NOW, {"uid": bearer.principal.id})
            ).all()
        if not rows or not rows[0].is_active or rows[0].security_stamp != bearer.stamp:
            logger.warning(
                "access token of a changed user refused user_id=%s method=%s",
                bearer.principal.id,
                request.method,
            )
            raise _invalid_token()
        return to_principal(rows)


# The user as the database has it now, for unsafe requests; built once.
_PRINCIPAL_NOW = principal_select(User.is_active, User.security_stamp).where(
    User.id == bindparam("uid")
)


current_principal = _BearerPrincipal(tokenUrl="/auth/login", auto_error=False)

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


LoginResponse = TokenPair


@router.post("/login")
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse:
    """Log in with the OAuth2 password form; answer an access and a refresh token."""
    return await start_session(request=request, response=response, db=db, user=user)


async def start_session(
    *, request: Request, response: Response, db: AsyncSession, user: User
) -> LoginResponse:
    """Open a new refresh-token family for ``user``; answer its first pair."""
    principal = await _load_principal(db, user.id, user.security_stamp)
    if principal is None:  # deactivated or changed since the password check
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    tokens = _tokens(request)
    expires_at = utcnow() + timedelta(seconds=tokens.refresh_ttl)
    _no_store(response)
    return await _issue_pair(
        db,
        tokens,
        principal,
        stamp=user.security_stamp,
        family=secrets.token_hex(16),
        expires_at=expires_at,
    )


@router.post("/refresh")
async def refresh(
    body: RefreshTokenBody, request: Request, response: Response, db: SessionDep
) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its family."""
    now = utcnow()
    token_hash = _hash(body.refresh_token)
    # One conditional UPDATE spends the token: of two concurrent requests with
    # the same token, the database lets exactly one match.
    spent = (
        await db.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
                ~_family_revoked(),
            )
            .values(used_at=now)
            .returning(
                RefreshToken.user_id,
                RefreshToken.family,
                RefreshToken.expires_at,
                RefreshToken.security_stamp,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    if spent is None:
        await _revoke_if_reused(db, token_hash, now)
        await db.commit()
        raise _invalid_refresh_token()
    principal = await _load_principal(db, spent.user_id, spent.security_stamp)
    if principal is None:  # deactivated or a new stamp: the family ends here
        await _revoke(db, RefreshToken.family == spent.family, now)
        await db.commit()
        raise _invalid_refresh_token()
    _no_store(response)
    return await _issue_pair(
        db,
        _tokens(request),
        principal,
        stamp=spent.security_stamp,
        family=spent.family,
        expires_at=spent.expires_at,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, body: RefreshTokenBody, db: SessionDep
) -> Response:
    """Revoke the refresh token's family; the access token lives until it expires.

    A refresh token of another user revokes nothing.
    """
    family = await db.scalar(
        select(RefreshToken.family).where(
            RefreshToken.token_hash == _hash(body.refresh_token),
            RefreshToken.user_id == principal.id,
        )
    )
    if family is not None:
        await _revoke(db, RefreshToken.family == family, utcnow())
        await db.commit()
    logger.info("logout user_id=%s", principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user: a new security stamp, every family revoked.

    Access tokens already issued still answer reads until they expire; the
    new stamp refuses them every unsafe request at once.
    """
    await service.rotate_security_stamp(db=db, user_id=user_id)
    await _revoke(db, RefreshToken.user_id == user_id, utcnow())


async def cleanup_expired(db: AsyncSession) -> int:
    """Delete the tokens of expired or revoked families; return how many.

    Spent tokens of a live family stay: they are how a reuse is recognised.
    """
    dead = select(RefreshToken.family).where(
        (RefreshToken.expires_at <= utcnow()) | RefreshToken.revoked_at.is_not(None)
    )
    connection = await db.connection()
    result = await connection.execute(
        delete(RefreshToken).where(RefreshToken.family.in_(dead))
    )
    return result.rowcount


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _load_principal(
    db: AsyncSession, user_id: int, stamp: str
) -> Principal | None:
    """Return the user as now, if still active and still with ``stamp``."""
    rows = (await db.execute(_PRINCIPAL_NOW, {"uid": user_id})).all()
    if not rows or not rows[0].is_active or rows[0].security_stamp != stamp:
        return None
    return to_principal(rows)


async def _issue_pair(
    db: AsyncSession,
    tokens: Tokens,
    principal: Principal,
    *,
    stamp: str,
    family: str,
    expires_at: datetime,
) -> TokenPair:
    refresh_token = secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            token_hash=_hash(refresh_token),
            user_id=principal.id,
            family=family,
            expires_at=expires_at,
            security_stamp=stamp,
        )
    )
    await db.commit()
    return TokenPair(
        access_token=tokens.issue(principal, stamp),
        expires_in=tokens.access_ttl,
        refresh_token=refresh_token,
    )


def _family_revoked() -> ColumnElement[bool]:
    # A family is dead once any of its tokens is revoked, even one stored by a
    # refresh that raced the revocation.
    member = aliased(RefreshToken)
    return exists().where(
        member.family == RefreshToken.family, member.revoked_at.is_not(None)
    )


async def _revoke(db: AsyncSession, where: ColumnElement[bool], now: datetime) -> None:
    await db.execute(
        update(RefreshToken)
        .where(where, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def _revoke_if_reused(db: AsyncSession, token_hash: str, now: datetime) -> None:
    spent = (
        await db.execute(
            select(RefreshToken.user_id, RefreshToken.family).where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_not(None),
            )
        )
    ).first()
    if spent is not None:
        await _revoke(db, RefreshToken.family == spent.family, now)
        logger.warning(
            "Spent refresh token presented again; revoked its family (user %s)",
            spent.user_id,
        )


def _bearer(claims: dict[str, Any]) -> Bearer | None:
    sub, email, stamp = claims["sub"], claims.get("email"), claims.get("stamp")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdecimal()):
        return None
    if not isinstance(email, str) or not isinstance(stamp, str):
        return None
    principal = from_claims(int(sub), email, claims)
    return None if principal is None else Bearer(principal, stamp, claims["exp"])


def _no_store(response: Response) -> None:
    # RFC 6749 5.1: responses with tokens must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


def _invalid_token() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "Invalid or expired token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _invalid_refresh_token() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid refresh token")


async def _bearer_challenge(request: Request, error: Exception) -> Response:
    """Name the bearer scheme on every 401 (RFC 6750 3), login failures included."""
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover
        raise error  # registered for HTTPException alone
    headers = error.headers or {}
    if error.status_code == status.HTTP_401_UNAUTHORIZED and (
        "WWW-Authenticate" not in headers
    ):
        error = StarletteHTTPException(
            error.status_code,
            error.detail,
            headers={**headers, "WWW-Authenticate": "Bearer"},
        )
    return await http_exception_handler(request, error)
