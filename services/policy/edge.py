"""Minimization at the source: a device applies its policy's ``at: edge`` transforms before
it publishes.

Under ``edge-counts`` a camera does no face identification and sends no plate or badge: what
the policy drops at the edge never reaches the broker, so an eavesdropper on the wire cannot
read it (the ingest still applies the whole policy: defence in depth). The transforms are the
policy's own code (:class:`~services.policy.apply.Minimizer`), given only the edge part.

The policy in force reaches the devices over the control topic (``{"command": "policy",
"id": ..., "edge": [...]}``, published retained by the API when the active policy changes:
:func:`policy_command`); the simulator applies it from the next event on. The step is
deterministic, so the same seed under the same policy sends the same events.

This is the command center's code; the simulator receives it as an object
(:class:`simulator.publisher.EdgeStep`) from whoever starts it (`aqkol simulate`, `aqkol up`),
and builds the edge step of a ``policy`` command with :meth:`EdgeMinimizer.from_transforms`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.policy.apply import Minimizer
from services.policy.spec import PolicySpec, Transform, edge_part


class EdgeMinimizer:
    """The edge part of one policy, compiled: :meth:`apply` to a town event (a dict)."""

    def __init__(self, spec: PolicySpec):
        self.policy = spec.id
        part = edge_part(spec)
        self.transforms = [] if part is None else part.transforms
        self._m = Minimizer(part) if part is not None else None
        # only the kinds the edge part touches are looked at; the others pass as they are
        plans = self._m.plans.items() if self._m is not None else ()
        self.kinds = frozenset(k for k, plan in plans if plan.drop_event or plan.ops)

    @classmethod
    def from_transforms(cls, policy: str, transforms: list[dict[str, Any]]) -> EdgeMinimizer:
        """From a control command's ``edge`` list (validated as a policy's transforms)."""
        ts = [Transform.model_validate({**t, "at": "edge"}) for t in transforms]
        return cls(PolicySpec(id=policy, title=policy, transforms=ts))

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The event as the device sends it, or None if the device sends nothing."""
        if event["kind"] not in self.kinds:
            return event
        assert self._m is not None
        geo = event.get("geo")
        lat, lon = (geo["lat"], geo["lon"]) if geo else (None, None)
        data = {k: v for k, v in event["data"].items() if v is not None}
        ts = datetime.fromisoformat(event["ts"])
        kept = self._m.keep(event["id"], event["kind"], event["source"], ts, lat, lon, data)
        if kept is None:
            return None
        out = {**event, "data": kept.data}
        if kept.ts != ts:
            out["ts"] = kept.ts.isoformat()
        if kept.lat is None:
            out.pop("geo", None)
        elif (kept.lat, kept.lon) != (lat, lon):
            out["geo"] = {"lat": kept.lat, "lon": kept.lon}
        return out


def policy_command(spec: PolicySpec) -> dict[str, Any]:
    """The control command that tells the devices a policy's edge transforms."""
    part = edge_part(spec)
    transforms = [] if part is None else part.transforms
    edge = [t.model_dump(mode="json", exclude_defaults=True) for t in transforms]
    return {"command": "policy", "id": spec.id, "edge": edge}
