"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.auth.events import SecurityEvent
from app.auth.passwords import MAX_LENGTH, MIN_LENGTH
from app.auth.rbac import Principal, to_claims

# Ids in queries beyond a 32-bit integer column are refused (422) before
# they reach the database.
MAX_ID = 2**31 - 1


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
        # The claims an access token carries are what /auth/me shows. They
        # come from the principal the session check built, already of these
        # types, so they are not validated again on every request.
        fields: dict[str, Any] = {
            "id": principal.id,
            "email": principal.email,
            **to_claims(principal),
        }
        return cls.model_construct(**fields)


class PasswordChange(BaseModel):
    """Body of ``POST /auth/password``."""

    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class EventRead(BaseModel):
    """A security event, as ``GET /auth/events`` and ``GET /admin/events`` show it."""

    id: int
    at: datetime
    type: str
    user_id: int | None
    actor_id: int | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: SecurityEvent, *, viewer: int | None = None) -> EventRead:
        """Build the answer; a ``viewer`` sees no one else's address or agent."""
        foreign = (
            viewer is not None
            and event.actor_id is not None
            and event.actor_id != viewer
        )
        return cls(
            id=event.id,
            at=event.at,
            type=event.type,
            user_id=event.user_id,
            actor_id=event.actor_id,
            ip=None if foreign else event.ip,
            user_agent=None if foreign else event.user_agent,
            detail=event.detail,
        )
