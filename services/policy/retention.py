"""Retention: a sweeper deletes stored events older than the active policy keeps them.

Age is measured in simulated time, from the newest event stored, so a week-long retention
behaves the same at 1x and at 600x. The sweep runs with the ingest's batches, at most once
per ``SWEEP_EVERY`` of simulated time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete

from services.events.contract import KINDS
from services.policy.spec import PolicySpec
from services.store.models import aggregate_members, events
from services.store.repo import forget_in_rollup

SWEEP_EVERY = timedelta(minutes=10)


def sweep(conn: Connection, spec: PolicySpec, now: datetime) -> int:
    """Delete events older than their kind's retention as of ``now``; returns how many."""
    ret = spec.retention
    n = 0
    by_days: dict[float, list[str]] = {}
    for kind in KINDS:
        days = ret.days(kind)
        if days is not None:
            by_days.setdefault(days, []).append(kind)
    for days, kinds in sorted(by_days.items()):
        cutoff = now - timedelta(days=days)
        forget_in_rollup(conn, kinds, cutoff)  # the heatmap rollups forget it too
        res = conn.execute(
            delete(events).where(and_(events.c.kind.in_(kinds), events.c.ts < cutoff))
        )
        n += res.rowcount or 0
    longest = max(by_days, default=None)
    if longest is not None:  # the ids aggregates counted: not needed past any retention
        old = now - timedelta(days=longest)
        conn.execute(delete(aggregate_members).where(aggregate_members.c.ts < old))
    return n


class RetentionSweeper:
    """Runs :func:`sweep` when simulated time has moved on by ``SWEEP_EVERY``."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def maybe_sweep(self, conn: Connection, spec: PolicySpec, newest: datetime | None) -> int:
        if newest is None:
            return 0
        if spec.retention.default_days is None and not spec.retention.kinds:
            return 0
        if self.last is not None and newest - self.last < SWEEP_EVERY:
            return 0
        self.last = newest
        return sweep(conn, spec, newest)
