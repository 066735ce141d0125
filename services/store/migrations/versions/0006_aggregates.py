"""aggregate members: which events a block-level aggregate already holds (ids only)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregate_members",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False, comment="the aggregate's time"),
    )
    op.create_index("ix_aggregate_members_ts", "aggregate_members", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_aggregate_members_ts", table_name="aggregate_members")
    op.drop_table("aggregate_members")
