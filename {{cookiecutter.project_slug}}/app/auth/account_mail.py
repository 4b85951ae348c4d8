"""The messages about an account, each issued and sent in a background job.

Every job opens its own database session: it runs after the request that
asked for it has answered (:mod:`app.mail.outbox`). Nothing here logs a
token or a link.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fastapi import HTTPException, Request, status

from app.auth import account_tokens, service
from app.auth.account_tokens import LIFETIMES, Purpose
from app.auth.models import User
from app.config import Settings
from app.db import utcnow
from app.mail.messages import render
from app.state import AppState, app_state

# The page of the client that each purpose's link opens.
PAGES = {
    Purpose.VERIFY: "verify-email",
    Purpose.RESET: "reset-password",
    Purpose.EMAIL: "confirm-email",
}
# A refused login sends a new verification link at most this often.
RESEND_AFTER = timedelta(minutes=5)
NOT_VERIFIED = "Email not verified"


def link(settings: Settings, purpose: Purpose, token: str) -> str:
    """Return the link that carries ``token`` to the client's page."""
    return f"{settings.public_url.rstrip('/')}/{PAGES[purpose]}?token={token}"


def _hours(purpose: Purpose) -> str:
    return str(int(LIFETIMES[purpose].total_seconds() // 3600))


async def send_verification(state: AppState, user_id: int, *, resend: bool) -> None:
    """Mail the user a verification link, unless the address is verified.

    With ``resend`` false, skip it when one went out within ``RESEND_AFTER``.
    """
    async with state.sessionmaker() as db:
        user = await db.get(User, user_id)
        if user is None or user.email_verified or not user.is_active:
            return
        if not resend and await account_tokens.issued_since(
            db, user_id=user.id, purpose=Purpose.VERIFY, since=utcnow() - RESEND_AFTER
        ):
            return
        address = user.email
        token = await account_tokens.issue(
            db, user_id=user.id, purpose=Purpose.VERIFY, email=address
        )
        await db.commit()
    await state.outbox.send(
        render(
            "verify_email",
            to=address,
            link=link(state.settings, Purpose.VERIFY, token),
            hours=_hours(Purpose.VERIFY),
        )
    )


async def send_reset(state: AppState, email: str) -> None:
    """Mail a reset link to ``email`` if an active account has it; else nothing."""
    async with state.sessionmaker() as db:
        user = await service.find_user(db=db, email=email)
        if user is None or not user.is_active:
            return
        address = user.email
        token = await account_tokens.issue(
            db, user_id=user.id, purpose=Purpose.RESET, email=address
        )
        await db.commit()
    await state.outbox.send(
        render(
            "reset_password",
            to=address,
            link=link(state.settings, Purpose.RESET, token),
            hours=_hours(Purpose.RESET),
        )
    )


async def send_email_change(state: AppState, user_id: int, new_email: str) -> None:
    """Mail a confirmation link to ``new_email`` and a notice to the current address.

    An address that another account holds gets no link (the answer to the
    request was the same), but the owner is told all the same.
    """
    new_email = service.normalize_email(new_email)
    async with state.sessionmaker() as db:
        user = await db.get(User, user_id)
        if user is None or not user.is_active:
            return
        old_email = user.email
        taken = await service.find_user(db=db, email=new_email) is not None
        token = None
        if not taken:
            token = await account_tokens.issue(
                db, user_id=user.id, purpose=Purpose.EMAIL, email=new_email
            )
            await db.commit()
    if token is not None:
        await state.outbox.send(
            render(
                "confirm_email",
                to=new_email,
                new_email=new_email,
                link=link(state.settings, Purpose.EMAIL, token),
                hours=_hours(Purpose.EMAIL),
            )
        )
    await state.outbox.send(
        render("email_change_notice", to=old_email, new_email=new_email)
    )


def submit_verification(request: Request, user_id: int, *, resend: bool) -> None:
    """Have the outbox send the user a verification link, after this request."""
    state = app_state(request.app)
    state.outbox.submit(
        f"verification user_id={user_id}",
        partial(send_verification, state, user_id, resend=resend),
    )


def require_verified(request: Request, user: User) -> None:
    """Refuse the login of an unverified user when EMAIL_VERIFICATION=required.

    403, and no session; a new verification link goes out (at most one per
    ``RESEND_AFTER``), since without a session the user cannot ask for one.
    """
    settings = app_state(request.app).settings
    if user.email_verified or settings.email_verification != "required":
        return
    submit_verification(request, user.id, resend=False)
    raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_VERIFIED)
