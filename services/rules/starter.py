"""The starter rule: a crowd over a threshold (Smart Aqkol alerted on "large groups").

Alerting on gatherings is also how such systems are misused against protests: the
classroom discusses both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.events.contract import EventBase


@dataclass(frozen=True)
class Candidate:
    """An event that meets a rule's condition."""

    rule: str
    dedup_key: str
    title: str
    severity: str
    event: EventBase
    value: float | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> datetime:
        return self.event.ts


@dataclass(frozen=True)
class CrowdRule:
    """camera.crowd count above ``threshold`` people per counting window."""

    threshold: int = 25
    rule_id: str = "large-group"
    severity: str = "major"

    def evaluate(self, ev: EventBase) -> Candidate | None:
        """A candidate alert if ``ev`` is a crowd count above the threshold."""
        if ev.kind != "camera.crowd":
            return None
        count = getattr(ev.data, "count", 0)
        if count <= self.threshold:
            return None
        return Candidate(
            rule=self.rule_id,
            dedup_key=ev.source,
            title=f"Large group: {count} people at {ev.source}",
            severity=self.severity,
            event=ev,
            value=float(count),
            details={"threshold": self.threshold, "window_s": getattr(ev.data, "window_s", None)},
        )
