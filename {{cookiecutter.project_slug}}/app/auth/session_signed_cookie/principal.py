"""The check every authenticated request makes: a signed cookie, a live user."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import bindparam

from app.auth.cookies import SessionCookieScheme, not_authenticated, set_session_cookie
from app.auth.mfa.enrollment import check_enrollment
from app.auth.models import User
from app.auth.rbac import Principal, principal_select, to_principal
from app.auth.session.cookie import SessionData
from app.config import Settings
from app.state import AppState, app_state

# The idle clock in the cookie is renewed at most once a minute, so most
# requests send no Set-Cookie.
RENEW_AFTER = 60

# Built once; each request only binds the user id: one indexed read through
# the strategy's Reader, with no ORM session and no identity map.
_PRINCIPAL_QUERY = principal_select(User.security_stamp, User.is_active).where(
    User.id == bindparam("uid")
)


class _SignedSessionCookie(SessionCookieScheme):
    """The session cookie's scheme and its check, as one dependency.

    Checking in the scheme's own call, rather than in a dependency on it,
    spares every authenticated request a level of dependency solving.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Principal:
        """Return the logged-in user, or answer 401; renew the idle clock."""
        state = app_state(request.app)
        session = state.session
        raw = request.cookies.get(session.cookie_name)
        data = session.codec.decode(raw) if raw is not None else None
        now = int(time.time())
        if data is None or _expired(data, state.settings, now):
            raise not_authenticated()
        rows = await session.reader.rows(_PRINCIPAL_QUERY, {"uid": data.uid})
        if not rows or not rows[0].is_active or rows[0].security_stamp != data.stamp:
            raise not_authenticated()
        principal = to_principal(rows)
        check_enrollment(request, state.settings, principal)
        if now - data.seen >= RENEW_AFTER:
            set_session(response, state, replace(data, seen=now), now)
        return principal


current_principal = _SignedSessionCookie()

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def set_session(
    response: Response, state: AppState, data: SessionData, now: int
) -> None:
    """Set the session cookie for ``data``, to last what its lifetime has left."""
    remaining = state.settings.session_max_age - (now - data.iat)
    value = state.session.codec.encode(data)
    set_session_cookie(response, state.settings, value, remaining)


def _expired(data: SessionData, settings: Settings, now: int) -> bool:
    return (
        now - data.iat >= settings.session_max_age
        or now - data.seen >= settings.session_idle_timeout
    )
