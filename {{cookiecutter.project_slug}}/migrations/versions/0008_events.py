"""Security events: the ``security_events`` table.
{%- if cookiecutter.rbac == "permissions" %}

Also the permission events:read, granted to admin.
{%- endif %}

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
{%- if cookiecutter.rbac == "permissions" %}

PERMISSION = "events:read"
{%- endif %}


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
        # Ids are never reused, on SQLite too.
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_security_events_at"), "security_events", ["at"], unique=False
    )
    op.create_index(
        op.f("ix_security_events_type"),
        "security_events",
        ["type", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_security_events_user_id"),
        "security_events",
        ["user_id", "id"],
        unique=False,
    )
{%- if cookiecutter.rbac == "permissions" %}
    permissions = sa.table("permissions", sa.column("id"), sa.column("name"))
    roles = sa.table("roles", sa.column("id"), sa.column("name"))
    grants = sa.table(
        "role_permissions", sa.column("role_id"), sa.column("permission_id")
    )
    op.execute(permissions.insert().values(name=PERMISSION))
    # Ids are the database's to choose: look them up by name.
    op.execute(
        grants.insert().values(
            role_id=_id_of(roles, "admin"),
            permission_id=_id_of(permissions, PERMISSION),
        )
    )
{%- endif %}


def downgrade() -> None:
{%- if cookiecutter.rbac == "permissions" %}
    permissions = sa.table("permissions", sa.column("id"), sa.column("name"))
    grants = sa.table("role_permissions", sa.column("permission_id"))
    # Its grants first: migrations on SQLite run without foreign keys, so
    # nothing cascades.
    named = sa.select(permissions.c.id).where(permissions.c.name == PERMISSION)
    op.execute(grants.delete().where(grants.c.permission_id.in_(named)))
    op.execute(permissions.delete().where(permissions.c.name == PERMISSION))
{%- endif %}
    op.drop_index(op.f("ix_security_events_user_id"), table_name="security_events")
    op.drop_index(op.f("ix_security_events_type"), table_name="security_events")
    op.drop_index(op.f("ix_security_events_at"), table_name="security_events")
    op.drop_table("security_events")
{%- if cookiecutter.rbac == "permissions" %}


def _id_of(table: sa.TableClause, name: str) -> sa.ScalarSelect[int]:
    return sa.select(table.c.id).where(table.c.name == name).scalar_subquery()
{%- endif %}
