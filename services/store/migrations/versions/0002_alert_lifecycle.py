"""alert lifecycle: who acknowledged or cleared an alert, when, and why; its assignee

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("assignee", sa.String(64)))
        batch.add_column(sa.Column("acknowledged_at", UTCDateTime(), comment="wall clock"))
        batch.add_column(sa.Column("acknowledged_by", sa.String(64)))
        batch.add_column(sa.Column("cleared_at", UTCDateTime(), comment="wall clock"))
        batch.add_column(sa.Column("cleared_by", sa.String(64), comment="a user, or 'auto'"))
        batch.add_column(sa.Column("clear_reason", sa.String(256)))
        batch.add_column(sa.Column("purpose", sa.String(32)))
        batch.add_column(sa.Column("misuse", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.alter_column("event_id", existing_type=sa.String(64), nullable=True)
        batch.create_index("ix_alerts_state_rule", ["state", "rule"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_state_rule")
        batch.alter_column("event_id", existing_type=sa.String(64), nullable=False)
        for name in (
            "misuse",
            "purpose",
            "clear_reason",
            "cleared_by",
            "cleared_at",
            "acknowledged_by",
            "acknowledged_at",
            "assignee",
        ):
            batch.drop_column(name)
