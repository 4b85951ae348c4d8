"""The login form: checking posted credentials, with throttling and an audit log."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service, throttle
from app.auth.models import User
from app.db import SessionDep

INVALID_CREDENTIALS = "Incorrect email or password"

# Auth events: who and what, never a password or a token.
log = logging.getLogger("app.auth")


async def verified_user(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    db: SessionDep,
) -> User:
    """Return the user whose credentials were posted, or answer 401 (or 429).

    Unknown email, wrong password and inactive user get the same answer.
    """
    settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    wait = await throttle.retry_after(
        db=db, settings=settings, email=form.username, client=client
    )
    if wait is not None:
        log.warning("login throttled email=%r client=%s", form.username, client)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many failed logins; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = await service.authenticate(
        db=db, email=form.username, password=form.password
    )
    if user is None:
        await throttle.record_failure(db=db, email=form.username, client=client)
        await db.commit()
        log.warning("login failed email=%r client=%s", form.username, client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    await throttle.clear_account(db=db, email=form.username)
    await db.commit()
    log.info("login succeeded user_id=%s client=%s", user.id, client)
    return user


VerifiedUser = Annotated[User, Depends(verified_user)]
