"""Open or update alerts: one open alert per rule and dedup key; repeats raise its count."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from services.rules.starter import Candidate
from services.store.models import alerts

OPEN_STATES = ("active", "acknowledged")


def apply_candidates(conn: Connection, candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Write candidates as alerts; return the alerts newly opened (to announce them)."""
    opened: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        by_key.setdefault((c.rule, c.dedup_key), []).append(c)
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
            ev = first.event
            values = {
                "rule": rule,
                "dedup_key": key,
                "title": first.title,
                "severity": first.severity,
                "state": "active",
                "kind": ev.kind,
                "source": ev.source,
                "lat": ev.geo.lat if ev.geo else None,
                "lon": ev.geo.lon if ev.geo else None,
                "value": max((c.value for c in group if c.value is not None), default=None),
                "count": len(group),
                "first_seen": first.ts,
                "last_seen": group[-1].ts,
                "event_id": ev.id,
                "details": first.details,
            }
            values["id"] = conn.execute(alerts.insert().values(**values)).inserted_primary_key[0]
            opened.append(values)
        else:
            peak = max([c.value or 0.0 for c in group] + [row.value or 0.0])
            conn.execute(
                alerts.update()
                .where(alerts.c.id == row.id)
                .values(
                    count=row.count + len(group),
                    last_seen=max(row.last_seen, group[-1].ts),
                    value=peak,
                    title=group[-1].title,
                )
            )
    return opened
