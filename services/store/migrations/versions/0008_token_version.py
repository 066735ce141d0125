"""sessions and logins: users.token_version (in every login token; replaced by logout and a
password change), and login_failures (failed logins, counted per hashed key by every process)

Revision ID: 0008_token_version
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0008_token_version"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "token_version",
                sa.BigInteger(),
                nullable=False,
                server_default="0",
                comment="in every login token; replaced by logout, a password change, a reset",
            )
        )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "key", sa.String(32), nullable=False, comment="blake2b of scope and account/client"
        ),
        sa.Column("at", UTCDateTime(), nullable=False, comment="wall clock"),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_key_at", "login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
