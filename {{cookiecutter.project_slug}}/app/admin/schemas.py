"""Request and response bodies of the admin endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.auth.roles import NAME_LENGTH
from app.auth.schemas import UserRead

# Role names are plain identifiers (``admin``, ``billing-reader``...).
RoleName = Annotated[
    str, Field(min_length=1, max_length=NAME_LENGTH, pattern=r"^[A-Za-z0-9_.:-]+$")
]


class AdminUserRead(UserRead):
    """A user as an administrator sees it."""

    is_active: bool
    roles: list[str]


class RolesUpdate(BaseModel):
    """Body of ``PUT /admin/users/{id}/roles``: the user's whole set of roles."""

    roles: list[RoleName] = Field(max_length=100)


class ActiveUpdate(BaseModel):
    """Body of ``PUT /admin/users/{id}/active``."""

    is_active: bool
