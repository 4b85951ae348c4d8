"""Permission-based access control: roles carry permissions, routes require one.

A permission is a name such as ``users:write``; a role holds any number of
them and a user holds roles. Routes are guarded with
:func:`app.auth.guards.require_permission`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    is_names,
    join_roles,
    names,
    revoke_roles,
)
from app.config import Settings
from app.db import Base

__all__ = [
    "Principal",
    "UnknownRoleError",
    "from_claims",
    "grant_default_roles",
    "grant_roles",
    "needs_enrollment",
    "principal_select",
    "revoke_roles",
    "to_claims",
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


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request, as far as authorisation needs to know."""

    id: int
    email: str
    email_verified: bool = False
    mfa_enabled: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)


def principal_select(*columns: QueryableAttribute[Any]) -> Select[Any]:
    """Select id, email, email_verified, mfa_enabled, ``columns``, one grant a row.

    Each row holds a role and one of its permissions; roles and permissions
    are outer-joined, so a user without any still gives one row (with
    NULLs). The strategy adds its own joins and ``where``.
    """
    query = select(
        User.id,
        User.email,
        User.email_verified,
        User.mfa_enabled,
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
        email_verified=first.email_verified,
        mfa_enabled=first.mfa_enabled,
        roles=names(rows, ROLE_LABEL),
        permissions=names(rows, PERMISSION_LABEL),
    )


def to_claims(principal: Principal) -> dict[str, object]:
    """Return what an access token says of the principal beyond id and email."""
    return {
        "email_verified": principal.email_verified,
        "mfa_enabled": principal.mfa_enabled,
        "roles": sorted(principal.roles),
        "permissions": sorted(principal.permissions),
    }


def from_claims(
    user_id: int, email: str, claims: Mapping[str, object]
) -> Principal | None:
    """Build the principal an access token names; ``None`` if its grants are bad."""
    roles, permissions = claims.get("roles"), claims.get("permissions")
    verified = claims.get("email_verified", False)
    mfa = claims.get("mfa_enabled", False)
    if not is_names(roles) or not is_names(permissions):
        return None
    if not isinstance(verified, bool) or not isinstance(mfa, bool):
        return None
    return Principal(
        id=user_id,
        email=email,
        email_verified=verified,
        mfa_enabled=mfa,
        roles=frozenset(roles),
        permissions=frozenset(permissions),
    )


def needs_enrollment(principal: Principal, settings: Settings) -> bool:
    """Whether MFA_REQUIRED_ROLES names a role of a principal without MFA."""
    return not principal.mfa_enabled and not principal.roles.isdisjoint(
        settings.mfa_required_roles
    )
