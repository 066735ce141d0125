"""What each audience may receive: one table for every door data leaves the command center by.

The role matrix (``services/auth/roles.py``) says who may *call* an endpoint; this module says
what a caller may *receive* from it, under the policy in force:

- **public** (students): released aggregates (the heatmap, under the policy's ``k_min`` and
  DP) and non-personal telemetry (buses without their plates, weather, street lights, stops,
  solar, crowd counts). No event about one person or household, no alert key, no identifier,
  no pseudonym.
- **operators** (analysts): events as the policy stored them; every read is audited.
- **oversight** (teacher, auditor): what their duties need: the same as operators (the
  teacher runs the class, the auditor answers residents), audited likewise.

A policy may open its event level to the public with ``release: {public: events}``: the
shipped ``none`` does so, which is its lesson. Every route returning event-level or
alert-key data passes its answer through :class:`Gate`; none decides on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Final

from services.auth.roles import Role
from services.events import KINDS
from services.events.contract import Privacy
from services.policy.spec import PolicySpec


class Audience(StrEnum):
    """Who receives: the public, the operators, oversight."""

    PUBLIC = "public"
    OPERATORS = "operators"
    OVERSIGHT = "oversight"


AUDIENCE_OF: Final[dict[Role, Audience]] = {
    Role.STUDENT: Audience.PUBLIC,
    Role.ANALYST: Audience.OPERATORS,
    Role.TEACHER: Audience.OVERSIGHT,
    Role.AUDITOR: Audience.OVERSIGHT,
}

# kinds whose events are about a fleet, not a person: the public receives them with their
# identifier fields removed (a service vehicle's plate). Any other kind with an identifier
# or a sensitive field, or whose source is a person's device, is aggregate-only for the
# public, so a new kind is protected the day it is added.
FLEET_KINDS: Final = frozenset({"vehicle.position"})
PERSONAL: Final = frozenset({Privacy.IDENTIFIER, Privacy.SENSITIVE})


@cache
def personal_kinds() -> frozenset[str]:
    """Kinds an event of which can point at a person (an identifier or sensitive field, or
    a person's device as source)."""
    return frozenset(
        kind
        for kind, model in KINDS.items()
        if PERSONAL & set(model.privacy().values()) or model.SOURCE_PRIVACY == Privacy.IDENTIFIER
    )


@cache
def public_kinds() -> frozenset[str]:
    """Kinds the public receives event by event (non-personal telemetry and fleets)."""
    return frozenset(k for k in KINDS if k not in personal_kinds() or k in FLEET_KINDS)


@cache
def _personal_fields(kind: str) -> frozenset[str]:
    model = KINDS.get(kind)
    if model is None:
        return frozenset()
    return frozenset(f for f, p in model.privacy().items() if p in PERSONAL)


class Withheld(PermissionError):
    """A request for something the audience may not receive under the active policy."""


@dataclass(frozen=True)
class Gate:
    """The release rules for one caller under one policy."""

    audience: Audience
    policy: str
    events_open: bool  # the policy releases its event level to this audience

    @property
    def event_level(self) -> bool:
        """Whether this caller receives events (and alert keys) as the policy stored them."""
        return self.events_open

    def kinds(self, kind: str | None) -> list[str] | None:
        """The kinds a read of ``kind`` (None or empty: every kind) may return; None: all.

        Raises :class:`Withheld` when the caller names a kind it may not receive."""
        if self.event_level:
            return [kind] if kind else None
        if kind:
            if kind in public_kinds():
                return [kind]
            raise Withheld(self.refusal(kind))
        return sorted(public_kinds())

    def refusal(self, what: str) -> str:
        return (
            f"under the policy {self.policy!r} the {self.audience.value} receive {what} only "
            "as released aggregates (GET /heatmap), not event by event"
        )

    def event(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        """An event as this caller may receive it; None when it is withheld."""
        if self.event_level:
            return ev
        kind = ev.get("kind", "")
        if kind not in public_kinds():
            return None
        drop = _personal_fields(kind)
        if not drop:
            return ev
        return {**ev, "data": {k: v for k, v in (ev.get("data") or {}).items() if k not in drop}}

    def events(self, evs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events this caller may receive, in order."""
        out = (self.event(e) for e in evs)
        return [e for e in out if e is not None]

    def alert(self, a: dict[str, Any]) -> dict[str, Any]:
        """An alert as this caller may receive it: without its key and details for the
        public, and without the place when it is about a person."""
        if self.event_level:
            return a
        out = {**a}
        key = out.get("dedup_key")
        if key and isinstance(out.get("title"), str):  # the engine titles "<rule>: <key>"
            out["title"] = out["title"].replace(f": {key}", "", 1)
        if "dedup_key" in out:
            out["dedup_key"] = ""
        if "details" in out:
            out["details"] = {}
        if "event_id" in out:
            out["event_id"] = None
        if out.get("kind") not in public_kinds():
            if "source" in out and _source_is_personal(out.get("kind", "")):
                out["source"] = ""
            if "geo" in out:
                out["geo"] = None
            for k in ("lat", "lon"):
                if k in out:
                    out[k] = None
        for k in ("assignee", "acknowledged_by", "cleared_by", "clear_reason"):
            if k in out:
                out[k] = None
        return out

    def alerts(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.alert(a) for a in items]

    def dead_letter_payloads(self, spec: PolicySpec) -> bool:
        """Whether refused payloads (which may hold raw identifiers) are shown at all."""
        return self.event_level and spec.dead_letter_payloads


def _source_is_personal(kind: str) -> bool:
    model = KINDS.get(kind)
    return model is None or model.SOURCE_PRIVACY == Privacy.IDENTIFIER


def gate_for(role: Role | str | None, spec: PolicySpec) -> Gate:
    """The release rules for ``role`` under ``spec`` (no role: the public)."""
    audience = AUDIENCE_OF.get(Role(role), Audience.PUBLIC) if role else Audience.PUBLIC
    opened = audience != Audience.PUBLIC or spec.release.public == "events"
    return Gate(audience=audience, policy=spec.id, events_open=opened)
