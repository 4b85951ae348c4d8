"""Permission-based access control: roles carry permissions, routes require one.

A permission is a name such as ``users:write``; a role holds any number of
them and a user holds roles. Routes are guarded with
:func:`app.auth.guards.require_permission`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ForeignKey, Select, String, Table, select
from sqlalchemy.orm import Mapped, QueryableAttribute, mapped_column

from app.auth.models import User
from app.auth.roles import (
    NAME_LENGTH,
    PERMISSION_LABEL,
    ROLE_LABEL,
    Role,
    UnknownRoleError,
    grant_default_roles,
    grant_roles,
    join_roles,
    names,
    revoke_roles,
)
from app.auth.schemas import UserRead
from app.auth.strategy import Principal
from app.db import Base

__all__ = [
    "MeRead",
    "UnknownRoleError",
    "grant_default_roles",
    "grant_roles",
    "principal_select",
    "revoke_roles",
    "to_principal",
]


class Permission(Base):
    """A named right that routes can require."""

    __tablename__ = "permissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)


role_permissions = Table(
    "role_permissions",
    Base.metadata,
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "permission_id",
        ForeignKey("permissions.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class MeRead(UserRead):
    """What ``GET /auth/me`` answers."""

    roles: list[str]
    permissions: list[str]

    @classmethod
    def of(cls, principal: Principal) -> MeRead:
        """Build the answer for the logged-in principal."""
        return cls(
            id=principal.id,
            email=principal.email,
            roles=sorted(principal.roles),
            permissions=sorted(principal.permissions),
        )


def principal_select(*columns: QueryableAttribute[Any]) -> Select[Any]:
    """Select a user's id and email, then ``columns``, then one grant per row.

    Each row holds a role and one of its permissions; roles and permissions
    are outer-joined, so a user without any still gives one row (with
    NULLs). The strategy adds its own joins and ``where``.
    """
    query = select(
        User.id,
        User.email,
        *columns,
        Role.name.label(ROLE_LABEL),
        Permission.name.label(PERMISSION_LABEL),
    ).select_from(User)
    return (
        join_roles(query)
        .outerjoin(role_permissions, role_permissions.c.role_id == Role.id)
        .outerjoin(Permission, Permission.id == role_permissions.c.permission_id)
    )


def to_principal(rows: Sequence[Any]) -> Principal:
    """Build the principal from the rows of :func:`principal_select`."""
    first = rows[0]
    return Principal(
        id=first.id,
        email=first.email,
        roles=names(rows, ROLE_LABEL),
        permissions=names(rows, PERMISSION_LABEL),
    )
