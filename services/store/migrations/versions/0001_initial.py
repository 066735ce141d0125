"""events, dead letters and alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False, comment="simulated time, UTC"),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
        sa.Column("cell", sa.String(16), comment="H3 cell at STORE_H3_RES"),
        sa.Column("value", sa.Float(), comment="the kind's headline measure (VALUE_FIELD)"),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_events_kind_ts", "events", ["kind", "ts"])
    op.create_index("ix_events_source_ts", "events", ["source", "ts"])
    op.create_index("ix_events_ts_id", "events", ["ts", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False, comment="first bytes of the raw payload"),
        sa.Column("payload_size", sa.Integer(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(256), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, comment="active | acknowledged | cleared"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float()),
        sa.Column("lon", sa.Float()),
        sa.Column("value", sa.Float()),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False, comment="simulated time"),
        sa.Column("last_seen", UTCDateTime(), nullable=False, comment="simulated time"),
        sa.Column("event_id", sa.String(64), nullable=False, comment="the event that opened it"),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alerts_rule_key_state", "alerts", ["rule", "dedup_key", "state"])
    op.create_index("ix_alerts_last_seen", "alerts", ["last_seen"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("dead_letters")
    op.drop_table("events")
