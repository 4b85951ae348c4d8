"""What a login does once the password is right, in every strategy.

The strategy's session starts, or, with MFA on, nothing starts yet: the
answer is a token for ``/auth/mfa/verify``, the second step.
"""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.events import EventType
from app.auth.mfa.challenge import MfaRequired, second_factor_required
from app.auth.models import User
from app.auth.session.lifecycle import LoginResponse, start_session


async def password_accepted(
    request: Request, response: Response, db: AsyncSession, user: User
) -> LoginResponse | MfaRequired:
    """Start ``user``'s session, or answer the second factor's challenge."""
    if user.mfa_enabled:
        return await second_factor_required(request, response, db, user)
    return await start_session(
        request=request,
        response=response,
        db=db,
        user=user,
        event=EventType.LOGIN_SUCCEEDED,
    )
