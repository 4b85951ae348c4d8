"""``POST /auth/login`` of the cookie strategies (``signed_cookie``, ``database``).

Both answer the OAuth2 password form the same way and differ only in how
:func:`start_session` keeps the session, so the endpoint lives once, here,
and each strategy's ``routes`` module hands it on.
"""

from __future__ import annotations

from fastapi import Request, Response

from app.auth.credentials import VerifiedUser
from app.auth.login import password_accepted
from app.auth.mfa.challenge import MfaRequired
from app.auth.session.lifecycle import LoginResponse
from app.db import SessionDep


# Added by app.auth.router as POST /auth/login, beside the other account routes.
async def login(
    user: VerifiedUser, request: Request, response: Response, db: SessionDep
) -> LoginResponse | MfaRequired:
    """Log in with the OAuth2 password form; the strategy starts the session.

    With MFA on, no session yet: the answer is a token for ``/auth/mfa/verify``.
    """
    return await password_accepted(request, response, db, user)
