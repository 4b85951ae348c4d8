"""The login form: checking posted credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.models import User
from app.db import SessionDep

INVALID_CREDENTIALS = "Incorrect email or password"


async def verified_user(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], db: SessionDep
) -> User:
    """Return the user whose credentials were posted, or answer 401.

    Unknown email, wrong password and inactive user get the same answer.
    """
    user = await service.authenticate(
        db=db, email=form.username, password=form.password
    )
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_CREDENTIALS)
    return user


VerifiedUser = Annotated[User, Depends(verified_user)]
