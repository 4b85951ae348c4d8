"""Signed-cookie sessions: the whole session lives in a cookie.

The cookie holds ids and times only (signed is not encrypted), signed with
itsdangerous using HMAC-SHA256 and a purpose salt. Every request checks, from
the times inside the payload, the idle timeout and the absolute lifetime, and
reads the user's security stamp, so a password change, a deactivation or "log
out everywhere" ends every older cookie, and a cookie of a deleted user never
fits a later account.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Request,
    Response,
    status,
)
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service
from app.auth.cookies import (
    clear_session_cookies,
    session_cookie_name,
    set_csrf_cookie,
    set_session_cookie,
)
from app.auth.credentials import VerifiedUser
from app.auth.csrf import CSRFMiddleware, issue_token, make_signer
from app.auth.models import User
from app.auth.rbac import principal_select, to_principal
from app.auth.schemas import UserRead
from app.auth.strategy import Principal
from app.config import Settings
from app.db import SessionDep
from app.reader import Reader

SALT = "app.auth.session"
log = logging.getLogger("app.auth")
# The idle clock in the cookie is renewed at most once a minute, so most
# requests send no Set-Cookie.
RENEW_AFTER = 60
# Verified cookies remembered per process (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 10_000

router = APIRouter(prefix="/auth", tags=["auth"])


@dataclass(frozen=True, slots=True)
class SessionData:
    """What the cookie carries."""

    uid: int  # user id
    stamp: str  # the user's security stamp at login
    sid: str  # random per login; binds the CSRF token to this session
    iat: int  # login time, for the absolute lifetime
    seen: int  # last activity, for the idle timeout


@dataclass(frozen=True, slots=True)
class _Sessions:
    settings: Settings
    serializer: URLSafeSerializer
    cookie_name: str
    # Cookies already verified: a cookie never changes, so checking its
    # signature again proves nothing new. Its times are still checked, and
    # the session version read, on every request.
    _verified: dict[str, SessionData] = field(
        default_factory=dict, compare=False, repr=False
    )

    def decode(self, raw: str) -> SessionData | None:
        data = self._verified.get(raw)
        if data is not None:
            return data
        try:
            data = _session_data(self.serializer.loads(raw))
        except BadData:
            return None
        if data is not None:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[raw] = data
        return data

    def encode(self, data: SessionData) -> str:
        return self.serializer.dumps(
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


def install(app: FastAPI, settings: Settings) -> None:
    """Keep the serializer on the app and add CSRF protection."""
    sessions = _Sessions(
        settings, make_serializer(settings.signing_keys), session_cookie_name(settings)
    )
    app.state.sessions = sessions
    app.state.csrf_signer = make_signer(settings.signing_keys)
    app.add_middleware(
        CSRFMiddleware,
        session_cookie=sessions.cookie_name,
        binding=lambda raw: data.sid if (data := sessions.decode(raw)) else None,
        signer=app.state.csrf_signer,
        trusted_origins=settings.trusted_origins,
    )


# Built once; each request only binds the user id: one indexed read through
# the app's Reader, with no ORM session and no identity map.
_PRINCIPAL_QUERY = principal_select(User.security_stamp, User.is_active).where(
    User.id == bindparam("uid")
)


async def current_principal(request: Request, response: Response) -> Principal:
    """Return the logged-in user, or answer 401."""
    sessions: _Sessions = request.app.state.sessions
    raw = request.cookies.get(sessions.cookie_name)
    data = sessions.decode(raw) if raw is not None else None
    now = int(time.time())
    if data is None or _expired(data, sessions.settings, now):
        raise _not_authenticated()
    reader: Reader = request.app.state.reader
    rows = await reader.rows(_PRINCIPAL_QUERY, {"uid": data.uid})
    if not rows or not rows[0].is_active or rows[0].security_stamp != data.stamp:
        raise _not_authenticated()
    if now - data.seen >= RENEW_AFTER:
        _set_session(response, sessions, replace(data, seen=now), now)
    return to_principal(rows)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


LoginResponse = UserRead


@router.post("/login")
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse:
    """Log in with the OAuth2 password form; the session arrives as a cookie."""
    return await start_session(request=request, response=response, db=db, user=user)


async def start_session(
    *, request: Request, response: Response, db: AsyncSession, user: User
) -> LoginResponse:
    """Set a new session cookie, and a new CSRF token bound to it."""
    sessions: _Sessions = request.app.state.sessions
    now = int(time.time())
    data = SessionData(
        uid=user.id,
        stamp=user.security_stamp,
        sid=secrets.token_urlsafe(16),
        iat=now,
        seen=now,
    )
    _set_session(response, sessions, data, now)
    token = issue_token(request.app.state.csrf_signer, data.sid)
    set_csrf_cookie(
        response, sessions.settings, token, sessions.settings.session_max_age
    )
    return UserRead.model_validate(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: CurrentPrincipal, request: Request) -> Response:
    """Forget the session cookie in this browser."""
    log.info("logout user_id=%s", principal.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, request.app.state.sessions.settings)
    return response


@router.post("/logout-everywhere", status_code=status.HTTP_204_NO_CONTENT)
async def logout_everywhere(
    principal: CurrentPrincipal, request: Request, db: SessionDep
) -> Response:
    """End every session of the user, in every browser."""
    await end_sessions(db, principal.id)
    await db.commit()
    log.info("logout everywhere user_id=%s", principal.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, request.app.state.sessions.settings)
    return response


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """End every session of a user: a new security stamp fits no older cookie."""
    await service.rotate_security_stamp(db=db, user_id=user_id)


async def cleanup_expired(db: AsyncSession) -> int:
    """Remove stored sessions that have ended: none are stored, so none."""
    return 0


def _expired(data: SessionData, settings: Settings, now: int) -> bool:
    return (
        now - data.iat >= settings.session_max_age
        or now - data.seen >= settings.session_idle_timeout
    )


def _set_session(
    response: Response, sessions: _Sessions, data: SessionData, now: int
) -> None:
    # The browser may drop the cookie once the absolute lifetime is over.
    remaining = sessions.settings.session_max_age - (now - data.iat)
    set_session_cookie(response, sessions.settings, sessions.encode(data), remaining)


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


def _not_authenticated() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
