"""rule status as each ingest worker last reported it (evaluations, matches, errors)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_status",
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("worker", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(512)),
        sa.Column("evaluations", sa.BigInteger(), nullable=False),
        sa.Column("matches", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(512)),
        sa.Column("updated_at", UTCDateTime(), nullable=False, comment="wall clock"),
    )


def downgrade() -> None:
    op.drop_table("rule_status")
