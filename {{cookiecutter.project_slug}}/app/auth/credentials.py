"""The login form: checking posted credentials, with throttling and an audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service, throttle
from app.auth.account_mail import require_verified
from app.auth.models import User
from app.db import SessionDep
from app.errors import BusyError, TooManyAttemptsError
from app.state import app_state

INVALID_CREDENTIALS = "Incorrect email or password"

# Auth events: who and what, never a password or a token.
log = logging.getLogger("app.auth")


def client_address(request: Request) -> str:
    """Return the client's address as the ASGI server reports it.

    Behind a proxy that is the proxy's, unless uvicorn is told which proxies
    to believe (``--forwarded-allow-ips``); the app never reads
    ``X-Forwarded-For`` itself.
    """
    return request.client.host if request.client else "unknown"


async def counted_attempt(
    request: Request, db: SessionDep, email: str
) -> throttle.Attempt:
    """Count a password check for ``email`` from this client, or answer 429."""
    client = client_address(request)
    with _throttled(f"login throttled email={email!r} client={client}"):
        return await throttle.count_attempt(
            db=db, settings=app_state(request.app).settings, email=email, client=client
        )


async def counted_registration(request: Request, db: SessionDep) -> None:
    """Count a registration from this client, or answer 429."""
    client = client_address(request)
    with _throttled(f"registration throttled client={client}"):
        await throttle.count_registration(
            db=db, settings=app_state(request.app).settings, client=client
        )


async def counted_reset_request(request: Request, db: SessionDep, email: str) -> None:
    """Count a "forgot password" for ``email`` from this client, or answer 429."""
    client = client_address(request)
    with _throttled(f"password reset throttled client={client}"):
        await throttle.count_reset_request(
            db=db, settings=app_state(request.app).settings, email=email, client=client
        )


@contextmanager
def _throttled(what: str) -> Iterator[None]:
    # Every 429 of the throttle is answered here, in one place.
    try:
        yield
    except throttle.ThrottledError as error:
        log.warning("%s", what)
        raise TooManyAttemptsError(error.retry_after) from None


async def authenticated_user(
    request: Request, db: SessionDep, *, email: str, password: str
) -> User | None:
    """Return the user whose credentials were posted, ``None`` if they are wrong.

    A user with MFA on is not logged in yet: the caller answers a challenge
    (:mod:`app.auth.mfa.challenge`) instead of starting a session.

    Unknown email, wrong password and inactive user get the same ``None``. The
    attempt is counted before the password is checked, so a burst of guesses
    gets no more checks than the limit (429 beyond it).
    """
    attempt = await counted_attempt(request, db, email)
    client = client_address(request)
    try:
        user = await service.authenticate(db=db, email=email, password=password)
    except BusyError:
        await throttle.withdraw(db=db, attempt=attempt)
        raise
    if user is None:
        log.warning("login failed email=%r client=%s", email, client)
        return None
    if user.mfa_enabled:
        # The account's failures are forgotten only once the second factor
        # passes: a known password must not reset the count of wrong codes.
        await throttle.withdraw(db=db, attempt=attempt)
    else:
        await throttle.succeeded(db=db, attempt=attempt)
        await db.commit()
    require_verified(request, user)
    if user.mfa_enabled:
        log.info("login needs a second factor user_id=%s client=%s", user.id, client)
    else:
        log.info("login succeeded user_id=%s client=%s", user.id, client)
    return user


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
