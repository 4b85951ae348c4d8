"""Role-based access control: users hold roles, routes require a role.

Routes are guarded with :func:`app.auth.guards.require_role`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import QueryableAttribute

from app.auth.models import User
from app.auth.roles import (
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


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request, as far as authorisation needs to know."""

    id: int
    email: str
    email_verified: bool = False
    mfa_enabled: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)


def principal_select(*columns: QueryableAttribute[Any]) -> Select[Any]:
    """Select id, email, email_verified, mfa_enabled, ``columns``, one role per row.

    The roles are outer-joined, so a user without any role still gives one
    row (with a NULL role). The strategy adds its own joins and ``where``.
    """
    query = select(
        User.id,
        User.email,
        User.email_verified,
        User.mfa_enabled,
        *columns,
        Role.name.label(ROLE_LABEL),
    )
    return join_roles(query.select_from(User))


def to_principal(rows: Sequence[Any]) -> Principal:
    """Build the principal from the rows of :func:`principal_select`."""
    first = rows[0]
    return Principal(
        id=first.id,
        email=first.email,
        email_verified=first.email_verified,
        mfa_enabled=first.mfa_enabled,
        roles=names(rows, ROLE_LABEL),
    )


def to_claims(principal: Principal) -> dict[str, object]:
    """Return what an access token says of the principal beyond id and email."""
    return {
        "email_verified": principal.email_verified,
        "mfa_enabled": principal.mfa_enabled,
        "roles": sorted(principal.roles),
    }


def from_claims(
    user_id: int, email: str, claims: Mapping[str, object]
) -> Principal | None:
    """Build the principal an access token names; ``None`` if its roles are bad."""
    roles, verified = claims.get("roles"), claims.get("email_verified", False)
    mfa = claims.get("mfa_enabled", False)
    if not is_names(roles) or not isinstance(verified, bool):
        return None
    if not isinstance(mfa, bool):
        return None
    return Principal(
        id=user_id,
        email=email,
        email_verified=verified,
        mfa_enabled=mfa,
        roles=frozenset(roles),
    )


def needs_enrollment(principal: Principal, settings: Settings) -> bool:
    """Whether MFA_REQUIRED_ROLES names a role of a principal without MFA."""
    return not principal.mfa_enabled and not principal.roles.isdisjoint(
        settings.mfa_required_roles
    )
