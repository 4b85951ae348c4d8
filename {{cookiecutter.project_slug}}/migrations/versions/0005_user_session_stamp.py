"""Bind each stored session to its user's security stamp.

Sessions that exist take their user's current stamp, so nobody is logged out.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "user_session", sa.Column("security_stamp", sa.String(32), nullable=True)
    )
    op.execute(
        "UPDATE user_session SET security_stamp = (SELECT users.security_stamp "
        "FROM users WHERE users.id = user_session.user_id)"
    )
    with op.batch_alter_table("user_session") as batch:
        batch.alter_column("security_stamp", nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("user_session") as batch:
        batch.drop_column("security_stamp")
