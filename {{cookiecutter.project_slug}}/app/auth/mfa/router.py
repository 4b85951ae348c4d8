"""``/auth/mfa/*``: enrolling in TOTP, turning it off, and login's second step.

Turning MFA on or off gives the user a new security stamp, which ends every
session they had (SECURITY.md, identity 2); a cookie-borne session goes on
under a new cookie, a bearer-token client logs in again.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.auth import throttle
from app.auth.credentials import counted_attempt, failed
from app.auth.dependencies import CurrentUser
from app.auth.events import EventType, note, origin, record
from app.auth.mfa import challenge, service, totp
from app.auth.mfa.models import TotpCredential
from app.auth.mfa.schemas import (
    ConfirmBody,
    DisableBody,
    Enrolment,
    PasswordBody,
    RecoveryCodes,
    VerifyBody,
)
from app.auth.models import User
from app.auth.passwords import verify_password
from app.auth.rbac import Principal
from app.auth.session import interface as session
from app.cors import COOKIE_SESSIONS
from app.db import SessionDep
from app.errors import BusyError
from app.state import app_state

INVALID_CODE = "Invalid code"
INVALID_MFA_TOKEN = "Invalid or expired MFA token"  # noqa: S105 - a message
WRONG_PASSWORD_OR_CODE = "Incorrect password or code"  # noqa: S105 - a message

router = APIRouter(prefix="/auth/mfa", tags=["mfa"])


@router.post("/totp")
async def enrol(
    body: PasswordBody,
    principal: CurrentUser,
    request: Request,
    response: Response,
    db: SessionDep,
) -> Enrolment:
    """Start enrolling: a new secret, pending until confirmed; needs the password.

    The secret is shown here only, as text, as an ``otpauth://`` URI and as a
    QR code (SVG) for an authenticator app. Enrolling again replaces it.
    """
    user = await _user(db, principal)
    if user.mfa_enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is already enabled")
    attempt = await _password_checked(request, db, user, body.password)
    secret = await service.enrol(db, app_state(request.app).settings, user)
    await throttle.succeeded(db=db, attempt=attempt)
    await db.commit()
    # Not an event: nothing changes for the user until the first code confirms.
    note("mfa.enrolment_started", warning=False, user_id=user.id, actor_id=user.id)
    response.headers["Cache-Control"] = "no-store"
    uri = totp.otpauth_uri(secret, user.email)
    return Enrolment(
        secret=totp.encoded(secret), otpauth_uri=uri, qr_svg=totp.qr_svg(uri)
    )


@router.post("/totp/confirm")
async def confirm(
    body: ConfirmBody,
    principal: CurrentUser,
    request: Request,
    response: Response,
    db: SessionDep,
) -> RecoveryCodes:
    """Turn MFA on with a first code; answer the recovery codes, shown this once."""
    user = await _user(db, principal)
    if user.mfa_enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is already enabled")
    if await db.get(TotpCredential, user.id) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "No pending enrolment: POST /auth/mfa/totp first"
        )
    codes = await service.confirm(db, app_state(request.app).settings, user, body.code)
    if codes is None:
        _mfa_failed(request, db, user.id, during="confirm")
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CODE)
    record(db, EventType.MFA_ENABLED, request, user_id=user.id, actor_id=user.id)
    await _renew_sessions(request, response, db, user)
    response.headers["Cache-Control"] = "no-store"
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/totp", status_code=status.HTTP_204_NO_CONTENT)
async def disable(
    body: DisableBody,
    principal: CurrentUser,
    request: Request,
    response: Response,
    db: SessionDep,
) -> None:
    """Turn MFA off; needs the password and a code (a recovery code serves too)."""
    user = await _user(db, principal)
    if not user.mfa_enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "MFA is not enabled")
    attempt = await _password_checked(request, db, user, body.password)
    settings = app_state(request.app).settings
    factor = await service.check(db, settings, user.id, **service.split_code(body.code))
    if factor is None:
        _mfa_failed(request, db, user.id, during="disable")
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG_PASSWORD_OR_CODE)
    if factor == "recovery":
        _recovery_used(request, db, user.id)
    await throttle.succeeded(db=db, attempt=attempt)
    await service.remove(db, user)
    record(db, EventType.MFA_DISABLED, request, user_id=user.id, actor_id=user.id)
    await _renew_sessions(request, response, db, user)


@router.post("/verify")
async def verify(
    body: VerifyBody, request: Request, response: Response, db: SessionDep
) -> session.LoginResponse:
    """Log in, second step: the ``mfa_token`` of login and a code (or recovery code).

    Answers what login answers without MFA. Each wrong code counts toward the
    login throttle; the fifth kills the token.
    """
    found = await challenge.find(db, body.mfa_token)
    user = await db.get(User, found.user_id) if found is not None else None
    if (
        found is None
        or user is None
        or not user.is_active
        or not user.mfa_enabled
        or user.security_stamp != found.security_stamp
    ):
        note("mfa.token_refused", ip=origin(request)[0])
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_MFA_TOKEN)
    user_id, challenge_id = user.id, found.id
    attempt = await counted_attempt(request, db, user.email)
    factor = await service.check(
        db,
        app_state(request.app).settings,
        user_id,
        code=body.code,
        recovery_code=body.recovery_code,
    )
    if factor is None:
        await challenge.fail(db, challenge_id)
        _mfa_failed(request, db, user_id, during="login")
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CODE)
    if not await challenge.spend(db, challenge_id):
        # Another request spent the token meanwhile: this one changes nothing.
        await db.rollback()
        note("mfa.token_refused", user_id=user_id, ip=origin(request)[0])
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_MFA_TOKEN)
    await throttle.succeeded(db=db, attempt=attempt)
    if factor == "recovery":
        # Commits with the spent code, the challenge and the session below.
        _recovery_used(request, db, user_id)
    return await session.start_session(
        request=request,
        response=response,
        db=db,
        user=user,
        event=EventType.LOGIN_SUCCEEDED,
    )


async def _user(db: SessionDep, principal: Principal) -> User:
    # The principal may come from an access token's claims: read today's row.
    return await db.get_one(User, principal.id)


async def _password_checked(
    request: Request, db: SessionDep, user: User, password: str
) -> throttle.Attempt:
    # The password can be guessed from a stolen session: throttled like a login.
    attempt = await counted_attempt(request, db, user.email)
    try:
        valid, _ = await verify_password(password, user.password_hash)
    except BusyError:
        await throttle.withdraw(db=db, attempt=attempt)
        raise
    if not valid:
        detail = {"reason": "wrong_password", "during": "mfa_change"}
        failed(request, db, user_id=user.id, detail=detail)
        await db.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG_PASSWORD_OR_CODE)
    return attempt


async def _renew_sessions(
    request: Request, response: Response, db: SessionDep, user: User
) -> None:
    # A new security stamp ends every session; a cookie session goes on here.
    await session.end_sessions(db, user.id)
    await db.commit()
    await db.refresh(user)
    if COOKIE_SESSIONS:
        await session.start_session(
            request=request, response=response, db=db, user=user
        )


def _mfa_failed(request: Request, db: SessionDep, user_id: int, *, during: str) -> None:
    # A wrong code changes nothing but the counters: the caller commits it.
    detail = {"during": during}
    record(
        db, EventType.MFA_FAILED, request, user_id=user_id, actor_id=None, detail=detail
    )


def _recovery_used(request: Request, db: SessionDep, user_id: int) -> None:
    record(db, EventType.MFA_RECOVERY_USED, request, user_id=user_id, actor_id=user_id)
