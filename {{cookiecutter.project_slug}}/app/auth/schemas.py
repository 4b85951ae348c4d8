"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.auth.passwords import MAX_LENGTH, MIN_LENGTH
from app.auth.rbac import Principal, to_claims


class UserCreate(BaseModel):
    """Registration body. Unknown fields (``roles``, ``is_active``...) are ignored."""

    email: EmailStr
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class UserRead(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str


class MeRead(UserRead):
    """What ``GET /auth/me`` answers: the user, as the chosen RBAC knows it."""

    email_verified: bool
    mfa_enabled: bool
{%- if cookiecutter.rbac != "none" %}
    roles: list[str]
{%- endif %}
{%- if cookiecutter.rbac == "permissions" %}
    permissions: list[str]
{%- endif %}

    @classmethod
    def of(cls, principal: Principal) -> MeRead:
        """Build the answer for the logged-in principal."""
        # The claims an access token carries are what /auth/me shows.
        return cls.model_validate(
            {"id": principal.id, "email": principal.email, **to_claims(principal)}
        )


class PasswordChange(BaseModel):
    """Body of ``POST /auth/password``."""

    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
