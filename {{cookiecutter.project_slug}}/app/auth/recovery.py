"""Account recovery by email: verification, password reset, email change.

Every message goes out in a background job (:mod:`app.auth.account_mail`),
after the answer: a slow or dead mail server costs no request any time, and
the change a request made is committed first. The tokens that links carry
are in :mod:`app.auth.account_tokens`; the API takes them only in a POST
body, and answers one 400 for every token that is not good.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy.exc import IntegrityError

from app.auth import account_tokens, service, throttle
from app.auth.account_mail import send_email_change, send_reset, submit_verification
from app.auth.account_tokens import MAX_TOKEN_LENGTH, Purpose
from app.auth.credentials import counted_attempt, counted_mail_request, failed
from app.auth.dependencies import CurrentUser
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, verify_password
from app.auth.session import interface as session
from app.db import SessionDep
from app.errors import BusyError
from app.state import app_state

router = APIRouter(prefix="/auth", tags=["auth"])

INVALID_TOKEN = "Invalid or expired token"  # noqa: S105 - a message, not a secret
FORGOT_ANSWER = "If an account has this address, a reset link is on its way"


class Accepted(BaseModel):
    """A 202: the work goes on after the answer."""

    detail: str


class TokenBody(BaseModel):
    """A token from a link, posted back by the client's page."""

    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class ForgotPassword(BaseModel):
    """Body of ``POST /auth/password/forgot``."""

    email: EmailStr


class PasswordReset(TokenBody):
    """Body of ``POST /auth/password/reset``."""

    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class EmailChange(BaseModel):
    """Body of ``POST /auth/email``."""

    new_email: EmailStr
    password: str = Field(max_length=MAX_LENGTH)


def _invalid_token() -> HTTPException:
    # One answer for unknown, used, expired and foreign-purpose tokens.
    return HTTPException(status.HTTP_400_BAD_REQUEST, INVALID_TOKEN)


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/verify/request", status_code=status.HTTP_202_ACCEPTED)
async def request_verification(
    principal: CurrentUser, request: Request, db: SessionDep
) -> Accepted:
    """Mail a new verification link to the user's address (none if verified).

    Counted per account and per client like "forgot password" (429 past the
    limit): each request mails the address, which need not be the caller's.
    """
    if not principal.email_verified:
        await counted_mail_request(request, db, kind="verify", email=principal.email)
        submit_verification(request, principal.id, resend=True)
    return Accepted(detail="A verification link is on its way, unless verified")


@router.post("/verify", status_code=status.HTTP_204_NO_CONTENT)
async def verify_email(body: TokenBody, request: Request, db: SessionDep) -> Response:
    """Mark the address a verification link was sent to as verified."""
    redeemed = await account_tokens.spend(db, token=body.token, purpose=Purpose.VERIFY)
    user = None if redeemed is None else await db.get(User, redeemed.user_id)
    if redeemed is None or user is None or user.email != redeemed.email:
        await db.commit()
        raise _invalid_token()
    user.email_verified = True
    # Whoever holds the link acts for the address's owner.
    record(db, EventType.EMAIL_VERIFIED, request, user_id=user.id, actor_id=user.id)
    await db.commit()
    return _no_content()


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(
    body: ForgotPassword, request: Request, db: SessionDep
) -> Accepted:
    """Mail a reset link if an account has this address; answer the same either way.

    The request does the same work for any address (count it, hand a job to
    the outbox); whether an account exists is only looked up in the job,
    after the answer, so neither the answer nor its time tells.
    """
    await counted_mail_request(request, db, kind="reset", email=body.email)
    state = app_state(request.app)
    state.outbox.submit("password reset", partial(send_reset, state, body.email))
    return Accepted(detail=FORGOT_ANSWER)


@router.post("/password/reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    body: PasswordReset, request: Request, db: SessionDep
) -> Response:
    """Set a new password with a reset link's token; every session of the user ends.

    Nobody is logged in: the user logs in with the new password.
    """
    if await account_tokens.peek(db, token=body.token, purpose=Purpose.RESET) is None:
        raise _invalid_token()
    # End the read before the hash (off the event loop, ~0.1 s), so that no
    # transaction stays open meanwhile; then spend the token for good.
    await db.rollback()
    password_hash = await hash_password(body.password)
    redeemed = await account_tokens.spend(db, token=body.token, purpose=Purpose.RESET)
    user = None if redeemed is None else await db.get(User, redeemed.user_id)
    if redeemed is None or user is None or user.email != redeemed.email:
        await db.commit()
        raise _invalid_token()
    user.password_hash = password_hash
    # The link went to the address: following it proves the address too.
    user.email_verified = True
    # Older reset links and a pending email change go with the old password.
    await account_tokens.void(db, user.id)
    await session.end_sessions(db, user.id)
    record(db, EventType.PASSWORD_RESET, request, user_id=user.id, actor_id=user.id)
    await db.commit()
    return _no_content()


@router.post("/email", status_code=status.HTTP_202_ACCEPTED)
async def change_email(
    body: EmailChange, principal: CurrentUser, request: Request, db: SessionDep
) -> Accepted:
    """Ask to change the address: the new one gets a link, the old one a notice.

    The current password is required, and counted by the login throttle, as
    it could be guessed from a stolen session.
    """
    new_email = service.normalize_email(body.new_email)
    if new_email == principal.email:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "This is already the account's address"
        )
    attempt = await counted_attempt(request, db, principal.email, during="email_change")
    try:
        user = await db.get_one(User, principal.id)
        valid, _ = await verify_password(body.password, user.password_hash)
    except BusyError:
        await throttle.withdraw(db=db, attempt=attempt)
        raise
    if not valid:
        detail = {"reason": "wrong_password", "during": "email_change"}
        failed(request, db, user_id=principal.id, detail=detail)
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect password")
    await throttle.succeeded(db=db, attempt=attempt)
    await db.commit()
    state = app_state(request.app)
    state.outbox.submit(
        f"email change user_id={principal.id}",
        partial(send_email_change, state, principal.id, new_email),
    )
    return Accepted(detail="A confirmation link is on its way to the new address")


@router.post("/email/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_email(body: TokenBody, request: Request, db: SessionDep) -> Response:
    """Make the address a confirmation link was sent to the account's address."""
    redeemed = await account_tokens.spend(db, token=body.token, purpose=Purpose.EMAIL)
    user = None if redeemed is None else await db.get(User, redeemed.user_id)
    if redeemed is None or user is None:
        await db.commit()
        raise _invalid_token()
    previous = user.email
    user.email = redeemed.email
    user.email_verified = True
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, "A user with this email already exists"
        ) from None
    # Links sent to the old address no longer fit the account.
    await account_tokens.void(db, user.id)
    record(
        db,
        EventType.EMAIL_CHANGED,
        request,
        user_id=user.id,
        actor_id=user.id,
        detail={"from": previous, "to": user.email},
    )
    await db.commit()
    return _no_content()
