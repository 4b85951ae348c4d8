"""The login form: checking posted credentials, with throttling and events."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service, throttle
from app.auth.account_mail import require_verified
from app.auth.events import EventType, note, quote, record
from app.auth.models import User
from app.db import SessionDep
from app.errors import BusyError, TooManyAttemptsError
from app.state import app_state

INVALID_CREDENTIALS = "Incorrect email or password"

# A client refused by the throttle is recorded at most this often (seconds)
# per process: refusals stay cheap, with no write each, under a flood.
THROTTLED_EVENT_EVERY = 60
_throttled_recently: OrderedDict[str, float] = OrderedDict()
_THROTTLED_REMEMBERED = 4096
# The log line of a throttled mail request, by the kind of link it asks for.
_MAIL_EVENTS = {"reset": "password_reset", "verify": "verification"}


def client_address(request: Request) -> str:
    """Return the client's address as the ASGI server reports it.

    Behind a proxy that is the proxy's, unless uvicorn is told which proxies
    to believe (``--forwarded-allow-ips``); the app never reads
    ``X-Forwarded-For`` itself.
    """
    return request.client.host if request.client else "unknown"


async def counted_attempt(
    request: Request, db: SessionDep, email: str, *, during: str | None = None
) -> throttle.Attempt:
    """Count a password check for ``email`` from this client, or answer 429.

    A refusal is recorded as ``login.throttled`` (``during`` names a step
    other than the login form, such as a password change).
    """
    client = client_address(request)
    try:
        return await throttle.count_attempt(
            db=db, settings=app_state(request.app).settings, email=email, client=client
        )
    except throttle.ThrottledError as error:
        if _first_refusal_in_a_while(client):
            user = (
                await service.find_user(db=db, email=email)
                if service.storable(email)
                else None
            )
            detail: dict[str, object] = {"retry_after": error.retry_after}
            if during is not None:
                detail["during"] = during
            record(
                db,
                EventType.LOGIN_THROTTLED,
                request,
                user_id=None if user is None else user.id,
                actor_id=None,
                detail=detail if user else {**detail, "email": quote(email)},
            )
            await db.commit()
        raise TooManyAttemptsError(error.retry_after) from None


def _first_refusal_in_a_while(client: str) -> bool:
    now = time.monotonic()
    last = _throttled_recently.get(client)
    if last is not None and now - last < THROTTLED_EVENT_EVERY:
        return False
    _throttled_recently[client] = now
    _throttled_recently.move_to_end(client)
    while len(_throttled_recently) > _THROTTLED_REMEMBERED:
        _throttled_recently.popitem(last=False)
    return True


async def counted_registration(request: Request, db: SessionDep) -> None:
    """Count a registration from this client, or answer 429."""
    client = client_address(request)
    with _throttled("registration.throttled", client):
        await throttle.count_registration(
            db=db, settings=app_state(request.app).settings, client=client
        )


async def counted_mail_request(
    request: Request, db: SessionDep, *, kind: str, email: str
) -> None:
    """Count a request for a mailed link (``reset``, ``verify``), or answer 429."""
    client = client_address(request)
    with _throttled(f"{_MAIL_EVENTS[kind]}.throttled", client):
        await throttle.count_mail_request(
            db=db,
            settings=app_state(request.app).settings,
            kind=kind,
            email=email,
            client=client,
        )


@contextmanager
def _throttled(what: str, client: str) -> Iterator[None]:
    # The 429s of requests that check no password: logged, not recorded.
    try:
        yield
    except throttle.ThrottledError as error:
        note(what, ip=client)
        raise TooManyAttemptsError(error.retry_after) from None


async def authenticated_user(
    request: Request, db: SessionDep, *, email: str, password: str
) -> User | None:
    """Return the user whose credentials were posted, ``None`` if they are wrong.

    A user with MFA on is not logged in yet: the caller answers a challenge
    (:mod:`app.auth.mfa.challenge`) instead of starting a session.

    Unknown email, wrong password and inactive user get the same ``None``. The
    attempt is counted before the password is checked, so a burst of guesses
    gets no more checks than the limit (429 beyond it). A failure is recorded
    and committed here; on success the attempt is taken back in ``db``'s open
    transaction, and the caller commits it with the session it starts
    (``start_session(..., event=EventType.LOGIN_SUCCEEDED)``), which records
    ``login.succeeded``.
    """
    attempt = await counted_attempt(request, db, email)
    try:
        user, reason = await service.check_credentials(
            db=db, email=email, password=password
        )
    except BusyError:
        await throttle.withdraw(db=db, attempt=attempt)
        raise
    if user is None or reason is not None:
        failed(
            request,
            db,
            user_id=None if user is None else user.id,
            detail={"reason": reason or "unknown_email"}
            | ({} if user else {"email": quote(email)}),
        )
        await db.commit()
        return None
    if user.mfa_enabled:
        # The account's failures are forgotten only once the second factor
        # passes: a known password must not reset the count of wrong codes.
        await throttle.withdraw(db=db, attempt=attempt)
    else:
        await throttle.succeeded(db=db, attempt=attempt)
    try:
        require_verified(request, user)
    except HTTPException:
        failed(request, db, user_id=user.id, detail={"reason": "email_not_verified"})
        await db.commit()
        raise
    return user


def failed(
    request: Request, db: SessionDep, *, user_id: int | None, detail: dict[str, str]
) -> None:
    """Record a refused password check (``login.failed``); the caller commits."""
    record(
        db,
        EventType.LOGIN_FAILED,
        request,
        user_id=user_id,
        actor_id=None,
        detail=detail,
    )


async def verified_user(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    db: SessionDep,
) -> User:
    """Return the user of the posted OAuth2 password form, or answer 401 (or 429)."""
    user = await authenticated_user(
        request, db, email=form.username, password=form.password
    )
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    return user


VerifiedUser = Annotated[User, Depends(verified_user)]
