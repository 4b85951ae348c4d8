"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.auth.passwords import MAX_LENGTH, MIN_LENGTH


class UserCreate(BaseModel):
    """Registration body. Unknown fields (``roles``, ``is_active``...) are ignored."""

    email: EmailStr
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class UserRead(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str


class PasswordChange(BaseModel):
    """Body of ``POST /auth/password``."""

    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
