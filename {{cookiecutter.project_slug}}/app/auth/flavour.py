"""What every RBAC flavour provides.

The chosen flavour is the module :mod:`app.auth.rbac` (roles, roles with
permissions, or none); it satisfies :class:`RbacFlavour`, which mypy checks
in :mod:`app.main`. The session strategies build principals only through it,
so each strategy works with each flavour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.auth.models import User
from app.auth.rbac import Principal
from app.config import Settings


class RbacFlavour(Protocol):
    """The interface of an RBAC flavour module."""

    @property
    def UnknownRoleError(self) -> type[ValueError]:
        """Raised when a role that does not exist is named."""

    def principal_select(self, *columns: QueryableAttribute[Any]) -> Select[Any]:
        """Select a user's id, email, email_verified, ``columns``, its grants."""

    def to_principal(self, rows: Sequence[Any]) -> Principal:
        """Build the principal from the rows of :meth:`principal_select`."""

    def to_claims(self, principal: Principal) -> dict[str, object]:
        """Return what an access token (and /auth/me) says beyond id and email."""

    def from_claims(
        self, user_id: int, email: str, claims: Mapping[str, object]
    ) -> Principal | None:
        """Build the principal an access token names; ``None`` if it is bad."""

    def needs_enrollment(self, principal: Principal, settings: Settings) -> bool:
        """Whether MFA_REQUIRED_ROLES keeps the principal out until it enrols."""

    async def grant_roles(
        self, db: AsyncSession, user: User, roles: Sequence[str]
    ) -> None:
        """Give ``user`` the named roles, or raise ``UnknownRoleError``."""

    async def revoke_roles(
        self, db: AsyncSession, user: User, roles: Sequence[str]
    ) -> None:
        """Take the named roles from ``user``, or raise ``UnknownRoleError``."""

    async def grant_default_roles(self, db: AsyncSession, user: User) -> None:
        """Give a newly registered user their default roles."""
