"""Give every user a random security stamp, and never reuse a user id.

The stamp replaces the session version, which started at 1 for everyone: a
credential of a deleted user could match a later account given the same id.
On SQLite, ``users`` is rebuilt with ``AUTOINCREMENT`` so that ids are never
reused (PostgreSQL's sequences never go back). Signed session cookies issued
before this revision end; stored sessions and refresh tokens are carried over
by the next revision, where the strategy has them.

Revision ID: 0004
Revises: 0003 (0002 without roles, 0001 with neither roles nor a session table)
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
{%- if cookiecutter.rbac != "none" %}
down_revision: str | None = "0003"
{%- elif cookiecutter.session_strategy != "signed_cookie" %}
down_revision: str | None = "0002"
{%- else %}
down_revision: str | None = "0001"
{%- endif %}
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 128 random bits as 32 hex digits, from each database's own strong source.
_RANDOM_STAMP = {
    "sqlite": "lower(hex(randomblob(16)))",
    "postgresql": "replace(gen_random_uuid()::text, '-', '')",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("users", sa.Column("security_stamp", sa.String(32), nullable=True))
    stamp = _RANDOM_STAMP[dialect]
    op.execute(f"UPDATE users SET security_stamp = {stamp}")  # noqa: S608 - a constant
    # SQLite rebuilds the table (migrations/env.py turns foreign keys off
    # meanwhile, so the rows that refer to users stay); PostgreSQL alters it.
    with op.batch_alter_table(
        "users",
        recreate="always" if dialect == "sqlite" else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        batch.alter_column("security_stamp", nullable=False)
        batch.drop_column("session_version")


def downgrade() -> None:
    # Ids stay never reused on SQLite: nothing relies on their reuse.
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "session_version", sa.Integer(), nullable=False, server_default="1"
            )
        )
        batch.drop_column("security_stamp")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("session_version", server_default=None)
