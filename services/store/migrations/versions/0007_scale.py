"""scale: BRIN index on events' time, heatmap rollups (filled from the events stored so far)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from services.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SPANS = (300, 3600, 21600, 86400)  # as services.store.repo.ROLLUP_SPANS when this was written
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    op.create_index(
        "ix_events_ts_brin", "events", ["ts"], postgresql_using="brin", if_not_exists=True
    )
    rollup = op.create_table(
        "heat_rollup",
        sa.Column("span_s", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("bucket", UTCDateTime(), primary_key=True, comment="start, simulated time, UTC"),
        sa.Column("cell", sa.String(16), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False, comment="events"),
        sa.Column("n_values", sa.BigInteger, nullable=False, comment="events with a value"),
        sa.Column("total", sa.Float, nullable=False, comment="sum of value"),
    )
    op.create_index("ix_heat_rollup_span_bucket", "heat_rollup", ["span_s", "bucket"])
    _backfill(rollup)


def _backfill(rollup: sa.Table) -> None:
    """Roll up the events already stored, so /heatmap answers the same after the upgrade."""
    events = sa.table(
        "events",
        sa.column("kind", sa.String),
        sa.column("cell", sa.String),
        sa.column("ts", UTCDateTime()),
        sa.column("value", sa.Float),
    )
    conn = op.get_bind()
    acc: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0])
    q = sa.select(events.c.kind, events.c.cell, events.c.ts, events.c.value).where(
        events.c.cell.is_not(None)
    )
    for kind, cell, ts, value in conn.execute(q):
        for span in SPANS:
            step = timedelta(seconds=span)
            bucket = EPOCH + (ts - EPOCH) // step * step
            a = acc[(span, kind, bucket, cell)]
            a[0] += 1
            if value is not None:
                a[1] += 1
                a[2] += value
    rows = [
        {"span_s": s, "kind": k, "bucket": b, "cell": c, "n": n, "n_values": nv, "total": t}
        for (s, k, b, c), (n, nv, t) in acc.items()
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(rollup.insert(), rows[i : i + 5000])


def downgrade() -> None:
    op.drop_index("ix_heat_rollup_span_bucket", table_name="heat_rollup")
    op.drop_table("heat_rollup")
    op.drop_index("ix_events_ts_brin", table_name="events")
