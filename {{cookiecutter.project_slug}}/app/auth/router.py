"""Account endpoints shared by every session strategy."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from app.auth import service
from app.auth.dependencies import CurrentUser
from app.auth.models import User
from app.auth.rbac import MeRead, grant_default_roles
from app.auth.schemas import UserCreate, UserRead
from app.db import SessionDep

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def register(body: UserCreate, db: SessionDep) -> User:
    """Create an account. Fields other than email and password are ignored."""
    try:
        user = await service.create_user(
            db=db, email=body.email, password=body.password
        )
    except service.EmailTakenError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "A user with this email already exists"
        ) from None
    await grant_default_roles(db, user)
    await db.commit()
    return user


@router.get("/me")
async def me(principal: CurrentUser) -> MeRead:
    """Return the logged-in user."""
    return MeRead.of(principal)
