"""The alert lifecycle, as mature platforms (Prometheus Alertmanager, Grafana, PagerDuty) have it.

- ``active``: raised by a rule; one open alert per rule and dedup key, repeats raise its
  ``count``, ``last_seen`` and peak ``value``;
- ``acknowledged``: somebody has seen it (who and when are kept); it stays open, repeats
  still count;
- ``cleared``: closed by somebody (with a reason) or by the rule itself after its quiet
  period (``cleared_by = 'auto'``). A repeat after that opens a new alert.

Times: ``first_seen``/``last_seen`` are simulated (event) time; ``acknowledged_at`` and
``cleared_at`` are wall-clock time of the people who acted, except auto-clears, which are
stamped with the simulated time at which the quiet period ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from services.rules.engine import Candidate
from services.store.models import alerts
from services.store.repo import now_utc

OPEN_STATES = ("active", "acknowledged")
STATES = ("active", "acknowledged", "cleared")


def apply_candidates(
    conn: Connection,
    candidates: Iterable[Candidate],
    meta: dict[str, tuple[str, bool]] | None = None,
) -> list[dict[str, Any]]:
    """Write candidates as alerts; return the alerts newly opened (to announce them).

    ``meta`` maps a rule id to its (purpose, misuse) for new alerts.
    """
    opened: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        by_key.setdefault((c.rule, c.dedup_key), []).append(c)
    meta = meta or {}
    for (rule, key), group in by_key.items():
        group.sort(key=lambda c: c.ts)
        row = conn.execute(
            select(alerts.c.id, alerts.c.count, alerts.c.last_seen, alerts.c.value)
            .where(
                alerts.c.rule == rule, alerts.c.dedup_key == key, alerts.c.state.in_(OPEN_STATES)
            )
            .order_by(alerts.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            first = group[0]
            purpose, misuse = meta.get(rule, (None, False))
            values = {
                "rule": rule,
                "dedup_key": key,
                "title": first.title,
                "severity": first.severity,
                "state": "active",
                "kind": first.kind,
                "source": first.source,
                "lat": first.lat,
                "lon": first.lon,
                "value": max((c.value for c in group if c.value is not None), default=None),
                "count": len(group),
                "first_seen": first.ts,
                "last_seen": group[-1].ts,
                "event_id": first.event_id,
                "details": first.details,
                "purpose": purpose,
                "misuse": misuse,
            }
            values["id"] = conn.execute(alerts.insert().values(**values)).inserted_primary_key[0]
            opened.append(values)
        else:
            values_seen = [c.value for c in group if c.value is not None]
            if row.value is not None:
                values_seen.append(row.value)
            conn.execute(
                alerts.update()
                .where(alerts.c.id == row.id)
                .values(
                    count=row.count + len(group),
                    last_seen=max(row.last_seen, group[-1].ts),
                    value=max(values_seen) if values_seen else None,
                    title=group[-1].title,
                )
            )
    return opened


def auto_clear(conn: Connection, quiet: dict[str, float], now: datetime) -> int:
    """Clear open alerts of rules with a quiet period that have not repeated for that long.

    ``quiet`` maps rule id to minutes; ``now`` is the simulated time (the newest event).
    One statement for all rules.
    """
    if not quiet:
        return 0
    stale = or_(
        *(
            and_(alerts.c.rule == rule, alerts.c.last_seen < now - timedelta(minutes=minutes))
            for rule, minutes in quiet.items()
        )
    )
    res = conn.execute(
        update(alerts)
        .where(alerts.c.state.in_(OPEN_STATES), stale)
        .values(state="cleared", cleared_by="auto", cleared_at=now, clear_reason="quiet period")
    )
    return res.rowcount or 0


def acknowledge(
    conn: Connection, ids: Sequence[int], by: str, assignee: str | None = None
) -> list[int]:
    """Acknowledge active alerts; returns the ids changed (cleared ones are left alone)."""
    values: dict[str, Any] = {
        "state": "acknowledged",
        "acknowledged_at": now_utc(),
        "acknowledged_by": by,
    }
    if assignee is not None:
        values["assignee"] = assignee
    return _transition(conn, ids, ("active",), values)


def clear(conn: Connection, ids: Sequence[int], by: str, reason: str | None = None) -> list[int]:
    """Clear open alerts; returns the ids changed."""
    values = {"state": "cleared", "cleared_at": now_utc(), "cleared_by": by, "clear_reason": reason}
    return _transition(conn, ids, OPEN_STATES, values)


def assign(conn: Connection, ids: Sequence[int], assignee: str | None) -> list[int]:
    return _transition(conn, ids, OPEN_STATES, {"assignee": assignee})


def _transition(
    conn: Connection, ids: Sequence[int], from_states: Sequence[str], values: dict[str, Any]
) -> list[int]:
    if not ids:
        return []
    changed = (
        conn.execute(
            select(alerts.c.id).where(alerts.c.id.in_(list(ids)), alerts.c.state.in_(from_states))
        )
        .scalars()
        .all()
    )
    if changed:
        conn.execute(update(alerts).where(alerts.c.id.in_(changed)).values(**values))
    return sorted(changed)
