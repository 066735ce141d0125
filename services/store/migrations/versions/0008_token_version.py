"""users.token_version: login tokens carry it; logout and a password change replace it

Revision ID: 0008_token_version
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
