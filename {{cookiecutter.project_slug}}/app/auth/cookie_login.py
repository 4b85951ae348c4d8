"""``POST /auth/login`` of the cookie strategies (``signed_cookie``, ``database``).

Both answer the OAuth2 password form the same way and differ only in how
:func:`start_session` keeps the session, so the endpoint lives once, here,
and each strategy's ``routes`` module hands it on.
"""

from __future__ import annotations

from fastapi import Request, Response

from app.auth.credentials import VerifiedUser
from app.auth.events import EventType
from app.auth.mfa.challenge import MfaRequired, second_factor_required
from app.auth.session.lifecycle import LoginResponse, start_session
from app.db import SessionDep


# Added by app.auth.router as POST /auth/login, beside the other account routes.
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse | MfaRequired:
    """Log in with the OAuth2 password form; the strategy starts the session.

    With MFA on, no session yet: the answer is a token for ``/auth/mfa/verify``.
    """
    if user.mfa_enabled:
        return await second_factor_required(request, response, db, user)
    return await start_session(
        request=request,
        response=response,
        db=db,
        user=user,
        event=EventType.LOGIN_SUCCEEDED,
    )
