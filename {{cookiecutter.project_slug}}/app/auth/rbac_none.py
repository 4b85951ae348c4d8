"""No access-control scaffolding: every logged-in user may use every route.

This module has the names that the roles and permissions variants provide,
so that the rest of the app does not depend on the choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.auth.models import User
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


class UnknownRoleError(ValueError):
    """A role that does not exist was named."""


async def grant_roles(db: AsyncSession, user: User, roles: Sequence[str]) -> None:
    """Give ``user`` the named roles; without RBAC every role is unknown."""
    _refuse(roles)


async def revoke_roles(db: AsyncSession, user: User, roles: Sequence[str]) -> None:
    """Take the named roles from ``user``; without RBAC every role is unknown."""
    _refuse(roles)


async def grant_default_roles(db: AsyncSession, user: User) -> None:
    """Give a newly registered user their default roles: none without RBAC."""


def principal_select(*columns: QueryableAttribute[Any]) -> Select[Any]:
    """Select id, email, email_verified, mfa_enabled, then ``columns``, from ``users``.

    The RBAC variants add the user's role (and permission) names, one row per
    grant, so that a strategy learns everything about a request's user in one
    query; it adds its own joins and ``where`` clause.
    """
    return select(User.id, User.email, User.email_verified, User.mfa_enabled, *columns)


def to_principal(rows: Sequence[Any]) -> Principal:
    """Build the principal from the rows of :func:`principal_select`."""
    first = rows[0]
    return Principal(
        id=first.id,
        email=first.email,
        email_verified=first.email_verified,
        mfa_enabled=first.mfa_enabled,
    )


def to_claims(principal: Principal) -> dict[str, object]:
    """Return what an access token says of the principal beyond id and email."""
    return {
        "email_verified": principal.email_verified,
        "mfa_enabled": principal.mfa_enabled,
    }


def from_claims(
    user_id: int, email: str, claims: Mapping[str, object]
) -> Principal | None:
    """Build the principal an access token names; ``None`` if it is bad."""
    verified = claims.get("email_verified", False)
    mfa = claims.get("mfa_enabled", False)
    if not isinstance(verified, bool) or not isinstance(mfa, bool):
        return None
    return Principal(id=user_id, email=email, email_verified=verified, mfa_enabled=mfa)


def needs_enrollment(principal: Principal, settings: Settings) -> bool:
    """Whether the principal must enrol in MFA first: never without roles."""
    return False


def _refuse(roles: Sequence[str]) -> None:
    if roles:
        raise UnknownRoleError(f"{roles[0]} (this project has no roles)")
