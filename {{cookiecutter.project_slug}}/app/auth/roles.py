"""Roles: the tables, granting and revoking, and how a request's roles are read.

Shared by the ``roles`` and ``permissions`` flavours of :mod:`app.auth.rbac`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeGuard

from sqlalchemy import (
    Column,
    ForeignKey,
    Select,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.models import User
from app.db import Base

log = logging.getLogger("app.auth")
# What a newly registered (or created) user gets.
DEFAULT_ROLES = ("user",)
NAME_LENGTH = 64
# Labels of the columns that principal_select adds, unlikely to clash with a
# strategy's own columns.
ROLE_LABEL = "rbac_role"
PERMISSION_LABEL = "rbac_permission"


class UnknownRoleError(ValueError):
    """A role that does not exist was named."""


class Role(Base):
    """A named set of rights, granted to users."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # Indexed for "who has this role" and for the cascade when a role goes.
    Column(
        "role_id",
        ForeignKey("roles.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


def join_roles(query: Select[Any]) -> Select[Any]:
    """Outer-join the user's roles to a query on ``users``: one row per role.

    Only an active user's grants are joined, so an inactive user reads as a
    user without any role, whatever the strategy checks.
    """
    return query.outerjoin(
        user_roles, and_(user_roles.c.user_id == User.id, User.is_active)
    ).outerjoin(Role, Role.id == user_roles.c.role_id)


def is_names(value: object) -> TypeGuard[list[str]]:
    """Return whether ``value`` is a list of names, as a token's claims hold them."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def names(rows: Sequence[Any], label: str) -> frozenset[str]:
    """Collect the non-NULL values of the column ``label`` across ``rows``."""
    values = (getattr(row, label) for row in rows)
    return frozenset(value for value in values if value is not None)


async def grant_roles(db: AsyncSession, user: User, roles: Sequence[str]) -> None:
    """Give ``user`` the named roles besides those they have; the caller commits."""
    wanted = await _role_ids(db, roles)
    held = set(
        await db.scalars(
            select(user_roles.c.role_id).where(user_roles.c.user_id == user.id)
        )
    )
    new = [{"user_id": user.id, "role_id": role_id} for role_id in wanted - held]
    if new:
        await db.execute(insert(user_roles), new)


async def revoke_roles(db: AsyncSession, user: User, roles: Sequence[str]) -> None:
    """Take the named roles away from ``user``; the caller commits."""
    unwanted = await _role_ids(db, roles)
    await db.execute(
        delete(user_roles).where(
            user_roles.c.user_id == user.id, user_roles.c.role_id.in_(unwanted)
        )
    )


async def set_roles(db: AsyncSession, user: User, roles: Sequence[str]) -> None:
    """Make the named roles the whole set of ``user``'s roles; the caller commits."""
    wanted = await _role_ids(db, roles)
    await db.execute(delete(user_roles).where(user_roles.c.user_id == user.id))
    if wanted:
        await db.execute(
            insert(user_roles),
            [{"user_id": user.id, "role_id": role_id} for role_id in wanted],
        )


async def grant_default_roles(db: AsyncSession, user: User) -> None:
    """Give a newly registered user the default roles; the caller commits.

    A default role that was deleted is skipped with a warning: the user gets
    fewer rights, and registering never fails half-way.
    """
    found = set(await db.scalars(select(Role.name).where(Role.name.in_(DEFAULT_ROLES))))
    missing = [name for name in DEFAULT_ROLES if name not in found]
    if missing:
        log.warning("default role missing, not granted: %s", ", ".join(missing))
    await grant_roles(db, user, sorted(found))


async def roles_by_user(
    db: AsyncSession, user_ids: Sequence[int]
) -> dict[int, list[str]]:
    """Return the sorted role names of each of ``user_ids``."""
    rows = await db.execute(
        select(user_roles.c.user_id, Role.name)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(user_roles.c.user_id.in_(user_ids))
        .order_by(Role.name)
    )
    found: dict[int, list[str]] = {user_id: [] for user_id in user_ids}
    for user_id, name in rows:
        found[user_id].append(name)
    return found


async def _role_ids(db: AsyncSession, roles: Sequence[str]) -> set[int]:
    """Return the ids of the named roles; raise on the first unknown name."""
    rows = await db.execute(select(Role.name, Role.id).where(Role.name.in_(roles)))
    ids = dict(rows.all())
    for name in roles:
        if name not in ids:
            raise UnknownRoleError(name)
    return set(ids.values())
