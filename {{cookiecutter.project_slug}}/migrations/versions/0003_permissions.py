"""Create the roles, permissions and their link tables; seed them.

Seeds the roles admin and user and the permissions users:read and
users:write, both granted to admin.

Revision ID: 0003
Revises: 0002 (0001 with signed_cookie sessions, which have no table)
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
{%- if cookiecutter.session_strategy == "signed_cookie" %}
down_revision: str | None = "0001"
{%- else %}
down_revision: str | None = "0002"
{%- endif %}
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("admin", "user")
PERMISSIONS = ("users:read", "users:write")
# (role, permission) pairs: admin holds every permission.
GRANTS = tuple(("admin", permission) for permission in PERMISSIONS)


def upgrade() -> None:
    roles = _named_table("roles")
    permissions = _named_table("permissions")
    role_permissions = op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permission_id"],
            ["permissions.id"],
            name=op.f("fk_role_permissions_permission_id_permissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_role_permissions_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "role_id", "permission_id", name=op.f("pk_role_permissions")
        ),
    )
    op.create_index(
        op.f("ix_role_permissions_permission_id"),
        "role_permissions",
        ["permission_id"],
        unique=False,
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_user_roles_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_index(
        op.f("ix_user_roles_role_id"), "user_roles", ["role_id"], unique=False
    )
    op.bulk_insert(roles, [{"name": name} for name in ROLES])
    op.bulk_insert(permissions, [{"name": name} for name in PERMISSIONS])
    # Ids are the database's to choose: look them up by name.
    op.execute(
        role_permissions.insert().values(
            [
                {
                    "role_id": _id_of(roles, role),
                    "permission_id": _id_of(permissions, permission),
                }
                for role, permission in GRANTS
            ]
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_roles_role_id"), table_name="user_roles")
    op.drop_table("user_roles")
    op.drop_index(
        op.f("ix_role_permissions_permission_id"), table_name="role_permissions"
    )
    op.drop_table("role_permissions")
    op.drop_table("roles")
    op.drop_table("permissions")


def _named_table(name: str) -> sa.Table:
    """Create a table of unique names (roles, permissions) and return it."""
    return op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("name", name=op.f(f"uq_{name}_name")),
    )


def _id_of(table: sa.Table, name: str) -> sa.ScalarSelect[int]:
    return sa.select(table.c.id).where(table.c.name == name).scalar_subquery()
