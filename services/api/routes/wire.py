"""The wire view: a live sample of what an eavesdropper on the broker receives.

The messages are the raw ones on the broker (before the ingest and its policy), so the sample
shows what the policy's edge part keeps off the wire and what it leaves there. What the
caller receives of them follows the release rules (``services/policy/audience.py``): an
audience that receives the policy's event level sees the values; the public sees every field
and its category but not the value of a personal one (a personal kind's place and source
included), so a class learns what the wire carries without reading anyone's identity.
Operators and oversight see a value only where the policy stores it as sent (what it
drops, pseudonymizes or generalizes at the ingest is withheld from them too: they receive at
most what the policy stores). Every read is audited as a read of personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.api.deps import ConnDep, SettingsDep, WireTapDep, active_spec
from services.api.release import ReleaseDep
from services.api.schemas.wire import WireMessage, WireSample
from services.classroom.wire import describe
from services.events import KINDS
from services.policy.apply import BIOMETRIC_KINDS, Minimizer
from services.policy.audience import Audience, Gate, personal_kinds
from services.policy.spec import edge_part

router = APIRouter(prefix="/wire", tags=["wire"])

WITHHELD = "(withheld)"
PERSONAL = ("identifier", "sensitive")


def _release(msg: dict[str, Any], gate: Gate, plan: Minimizer) -> dict[str, Any]:
    """A described message as ``gate``'s audience may receive it under the policy whose
    ingest ``plan`` (a :class:`~services.policy.apply.Minimizer`) is given."""
    kind = msg["kind"]
    if gate.audience == Audience.PUBLIC and not gate.event_level:
        personal = kind in personal_kinds() or kind not in KINDS

        def hide(f: dict[str, Any]) -> bool:
            return f["category"] in PERSONAL or (personal and f["category"] == "quasi")
    else:  # operators and oversight: at most what the policy stores (as sent)
        kp = plan.plans.get(kind)
        touched: set[str] = {f for _a, f, _t in kp.ops} if kp is not None else set()
        dropped = kp is None or kp.drop_event is not None
        if kind in BIOMETRIC_KINDS:  # a match on a list the policy refuses is not kept
            listed = {f["name"]: f["value"] for f in msg["fields"]}.get("data.watchlist")
            dropped = dropped or listed not in plan.watchlists

        def hide(f: dict[str, Any]) -> bool:
            if dropped:
                return bool(f["category"] != "telemetry")
            return f["name"] in touched  # source, geo, ts, data.<name>: as the plan names them

    fields = [{**f, "value": WITHHELD, "withheld": True} if hide(f) else f for f in msg["fields"]]
    topic = msg["topic"]
    if any(f["name"] == "source" and f.get("withheld") for f in fields) or (
        gate.audience == Audience.PUBLIC and not gate.event_level and kind in personal_kinds()
    ):
        topic = topic.rsplit("/", 1)[0] + "/" + WITHHELD
    return {**msg, "topic": topic, "fields": fields}


@router.get("/sample", response_model=WireSample)
def wire_sample(
    conn: ConnDep,
    settings: SettingsDep,
    tap: WireTapDep,
    gate: ReleaseDep,
    request: Request,
    n: Annotated[int, Query(ge=1, le=200)] = 40,
) -> WireSample:
    """The newest raw messages on the broker, each field with its privacy category; values
    the caller may not receive under the active policy are withheld."""
    spec = active_spec(request, conn)
    part = edge_part(spec)
    edge = [] if part is None else [_say(t) for t in part.transforms]
    prefix = settings.mqtt_prefix
    items = []
    try:
        raw = tap.sample(n)
    except OSError:  # no broker: an empty sample, said as such by ``seen``
        raw = []
    plan = Minimizer(spec)
    for at, topic, payload in raw:
        msg = _release(describe(topic, payload, prefix), gate, plan)
        items.append(WireMessage(received_at=datetime.fromtimestamp(at, UTC), **msg))
    return WireSample(policy=spec.id, edge=edge, seen=tap.seen, items=items)


def _say(t: Any) -> str:
    sel = t.select
    what = ", ".join([*sel.kinds, *sel.fields, *(str(c) for c in sel.categories)])
    return f"{t.action} {what}"
