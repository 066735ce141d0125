"""data-minimization policies: which was active when, the DP budget ledger, the pseudonym escrow

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, comment="of the policy file's text"),
        sa.Column("activated_at", UTCDateTime(), nullable=False, comment="wall clock"),
        sa.Column("sim_time", UTCDateTime(), comment="simulated time when it took effect"),
        sa.Column("activated_by", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256)),
    )
    op.create_table(
        "dp_ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("released_at", UTCDateTime(), nullable=False, comment="wall clock"),
        sa.Column("sim_day", sa.String(10), nullable=False, comment="the town's day, YYYY-MM-DD"),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("query", sa.String(256), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
    )
    op.create_index("ix_dp_ledger_day", "dp_ledger", ["policy", "sim_day"])
    op.create_table(
        "pseudonym_escrow",
        sa.Column("pseudonym", sa.String(64), primary_key=True),
        sa.Column("original", sa.String(256), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False, comment="salt period, e.g. 2026-01-15"),
        sa.Column("policy", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pseudonym_escrow")
    op.drop_index("ix_dp_ledger_day", table_name="dp_ledger")
    op.drop_table("dp_ledger")
    op.drop_table("policy_history")
