"""The check every authenticated request makes: a live session, a live user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from app.auth.cookies import SessionCookieScheme, not_authenticated
from app.auth.mfa.enrollment import check_enrollment
from app.auth.rbac import Principal, to_principal
from app.auth.session import store
from app.state import app_state


@dataclass(frozen=True, slots=True)
class CurrentSession:
    """The session behind a request, and its user."""

    principal: Principal
    token_hash: str
    public_id: str


class _SessionCookie(SessionCookieScheme):
    """The session cookie's scheme and its check, as one dependency."""

    async def __call__(self, request: Request) -> CurrentSession:  # type: ignore[override]
        """Return the live session of the request and its active user, or 401."""
        state = app_state(request.app)
        raw = request.cookies.get(state.session.cookie_name)
        if not raw:
            raise not_authenticated()
        hashed = store.token_hash(raw)
        rows = await store.read_live(
            state.session.reader, state.engine, state.settings, hashed
        )
        if rows is None:
            raise not_authenticated()
        principal = to_principal(rows)
        check_enrollment(request, state.settings, principal)
        return CurrentSession(principal, hashed, rows[0].public_id)


class _PrincipalOfSession(_SessionCookie):
    """The same check, answering the principal alone (``response`` is left alone).

    Checking in the scheme's own call, rather than in a dependency on it,
    spares every authenticated request a level of dependency solving. A
    route that needs the session as well takes ``CurrentSessionDep`` alone
    and reads its ``principal``, so that the session is read once.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Principal:
        """Return the logged-in user, or answer 401."""
        return (await super().__call__(request)).principal


current_session = _SessionCookie()
current_principal = _PrincipalOfSession()

CurrentSessionDep = Annotated[CurrentSession, Depends(current_session)]
