"""What the policy in force removed or changed: the comparison panes' summary.

Two stores of one stream under two policies look alike on a map (a crowd count is kept as
sent), so each pane says what its policy did in the window: which fields of which kind it
dropped, pseudonymized, generalized or summed into block aggregates (with how many events of
the kind this store holds in the window, each so changed), which kinds and face matches it
did not store at all (counted in the newest messages on the wire, as the store has none of
them), and one example event before (as it went over the broker) and after (as stored).

Who receives what (the release rules, ``services/policy/audience.py``): the "before" example
is released like the wire view's sample (``routes/wire.py``): no audience receives through
this door a value the policy removes, drops, pseudonymizes or generalizes (operators and
oversight see at most what the policy stores; the public sees the field names and their
categories, not the value of a personal field). The "after" side follows the same rules: the
public receives no personal value and no pseudonym, only what was done to each field. The
counts are of kinds and fields, never of a person. Every read is audited as a read of
personal data (``services/transparency/audit.py``).
"""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from sqlalchemy import and_, func, select

from services.api.deps import ConnDep, SettingsDep, WireTapDep, active_spec
from services.api.release import ReleaseDep
from services.api.routes.wire import PERSONAL, WITHHELD, _release
from services.api.schemas.effect import Change, Effect, Example, ExampleField
from services.classroom.wire import describe
from services.events import KINDS
from services.policy.apply import BIOMETRIC_KINDS, Minimizer
from services.policy.audience import Audience, Gate, personal_kinds
from services.store import repo
from services.store.models import events

router = APIRouter(prefix="/policy", tags=["policy"])

WIRE_N = 200  # newest raw messages looked at for what is not stored, and for the example
# what a change does, in the order a class reads them
ACTIONS = ("drop", "pseudonymize", "generalize", "aggregate", "drop_event", "refuse_match")


def _stored_by_kind(conn: Any, since: datetime, until: datetime) -> dict[str, int]:
    q = (
        select(events.c.kind, func.count())
        .where(and_(events.c.ts > since, events.c.ts <= until))
        .group_by(events.c.kind)
    )
    return {k: int(n) for k, n in conn.execute(q)}


def changes_of(plan: Minimizer, stored: dict[str, int]) -> list[Change]:
    """What the compiled policy does, kind by kind, with the stored counts of the window."""
    out: list[Change] = []
    if plan.passthrough:
        return out
    for kind in sorted(plan.plans):
        kp = plan.plans[kind]
        if kp.drop_event:
            at = "edge" if "at the edge" in kp.drop_event else "ingest"
            out.append(Change(action="drop_event", kind=kind, at=at))
            continue
        by: dict[tuple[str, str], list[str]] = {}
        for action, f, t in kp.ops:
            by.setdefault((action, t.at), [])
            if f not in by[(action, t.at)]:
                by[(action, t.at)].append(f)
        n = stored.get(kind, 0)
        for (done, at), fields in by.items():
            out.append(Change(action=done, kind=kind, fields=fields, at=at, stored=n))
        if kind in BIOMETRIC_KINDS and plan.refused_watchlists():
            out.append(Change(action="refuse_match", kind=kind,
                              fields=sorted(plan.refused_watchlists())))  # fmt: skip
    if plan.spec.biometric.mode == "off":
        out.append(Change(action="refuse_match", kind="access.entry", fields=["method=face"]))
    return out


def _watchlist(msg: dict[str, Any]) -> Any:
    return next((f["value"] for f in msg["fields"] if f["name"] == "data.watchlist"), None)


def _touches(change: Change, msg: dict[str, Any]) -> bool:
    if msg["kind"] != change.kind:
        return False
    if change.action == "drop_event":
        return True
    if change.action == "refuse_match":
        if change.kind == "access.entry":
            return any(f["name"] == "data.method" and f["value"] == "face" for f in msg["fields"])
        return _watchlist(msg) in change.fields
    names = {f["name"] for f in msg["fields"]}
    return any(f in names for f in change.fields)


def _raw(topic: str, payload: bytes, prefix: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    msg = describe(topic, payload, prefix)
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = None
    return msg, body if isinstance(body, dict) and body.get("id") else None


def _after(plan: Minimizer, body: dict[str, Any], row: Any) -> dict[str, Any] | None:
    """The kept event's fields by name (``source``, ``geo``, ``ts``, ``data.<name>``): the
    stored row if there is one, else what the policy keeps of ``body`` (None: nothing)."""
    if row is not None:
        m = row._mapping
        geo = {"lat": m["lat"], "lon": m["lon"]} if m["lat"] is not None else None
        data, source, ts = m["data"] or {}, m["source"], m["ts"]
    else:
        # not stored under its id: dropped, or summed into a block aggregate. What the policy
        # keeps is worked out here, with a key of its own (a pseudonym here is not a stored one)
        try:
            ts_in = datetime.fromisoformat(str(body.get("ts")))
        except ValueError:
            return None
        g = body.get("geo") or {}
        throwaway = Minimizer(plan.spec, secrets.token_bytes(16))
        data_in = {k: v for k, v in (body.get("data") or {}).items() if v is not None}
        kept = throwaway.keep(str(body["id"]), str(body.get("kind")), str(body.get("source")),
                              ts_in, g.get("lat"), g.get("lon"), data_in)  # fmt: skip
        if kept is None:
            return None
        geo = {"lat": kept.lat, "lon": kept.lon} if kept.lat is not None else None
        data, source, ts = kept.data, kept.source, kept.ts
    out: dict[str, Any] = {"source": source, "ts": _iso(ts)}
    if geo is not None:
        out["geo"] = geo
    out.update({f"data.{k}": v for k, v in data.items()})
    return out


def _iso(ts: Any) -> Any:
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return ts


def _same_time(a: Any, b: Any) -> bool:
    try:
        return datetime.fromisoformat(str(a)) == datetime.fromisoformat(str(b))
    except ValueError:
        return bool(a == b)


def example_of(
    plan: Minimizer, gate: Gate, msg: dict[str, Any], body: dict[str, Any], row: Any
) -> Example:
    """One raw message before and after the policy, as ``gate``'s audience may receive it."""
    kind = msg["kind"]
    kp = plan.plans.get(kind)
    after = None if plan.dropped_kind(kind) else _after(plan, body, row)
    aggregate = kp is not None and kp.aggregate is not None and after is not None
    raw = {f["name"]: f["value"] for f in msg["fields"]}  # compared, never sent as such
    released = _release(msg, gate, plan)  # the before side, as the wire view releases it
    public = gate.audience == Audience.PUBLIC and not gate.event_level
    personal = kind in personal_kinds() or kind not in KINDS
    actions = {f: a for a, f, _t in (kp.ops if kp else [])}
    fields: list[ExampleField] = []
    for f in released["fields"]:
        name, cat = f["name"], f["category"]
        if raw.get(name) is None:  # sent empty (a face entry has no badge): nothing to change
            continue
        if after is None or name not in after:
            change = "dropped"
        elif aggregate and name in ("source", "geo", "ts"):
            change = "aggregated"
        else:
            change = {"pseudonymize": "pseudonymized", "generalize": "generalized",
                      "aggregate": "aggregated"}.get(actions.get(name, ""), "kept")  # fmt: skip
            if change == "kept" and name == "ts" and not _same_time(after[name], raw.get(name)):
                change = "generalized"
        value = None if after is None or change == "dropped" else after.get(name)
        hide_after = public and (cat in PERSONAL or (personal and cat == "quasi"))
        if hide_after and value is not None:
            value = WITHHELD
        if change == "kept" and f.get("withheld"):
            value = WITHHELD  # the same value on both sides: withheld on both
        withheld = bool(f.get("withheld") or value == WITHHELD)
        fields.append(ExampleField(name=name, category=cat, before=f["value"], after=value,
                                   change=change, withheld=withheld))  # fmt: skip
    outcome = "not stored" if after is None else ("block aggregate" if aggregate else "changed")
    return Example(kind=kind, id=str(body["id"]), stored=row is not None, outcome=outcome,
                   fields=fields)  # fmt: skip


RANK = {"pseudonymize": 0, "drop": 1, "generalize": 2, "aggregate": 3, "refuse_match": 4,
        "drop_event": 5}  # fmt: skip


@router.get("/effect", response_model=Effect)
def policy_effect(
    request: Request,
    conn: ConnDep,
    settings: SettingsDep,
    tap: WireTapDep,
    gate: ReleaseDep,
    window_s: Annotated[int, Query(ge=60, le=7 * 86400)] = 3600,
    until: datetime | None = None,
    n: Annotated[int, Query(ge=1, le=WIRE_N)] = WIRE_N,
) -> Effect:
    """What the policy in force removed or changed in the window ending ``until`` (default:
    the newest stored time), with counts and one example before and after."""
    spec = active_spec(request, conn)
    plan = Minimizer(spec)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    end = until or repo.sim_time(conn)
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    since = end - timedelta(seconds=window_s) if end is not None else None
    stored = _stored_by_kind(conn, since, end) if end is not None and since is not None else {}
    changes = changes_of(plan, stored)
    prefix = settings.mqtt_prefix
    try:
        raw = tap.sample(n) if changes else []
    except OSError:  # no broker: no wire counts and no example, said by wire_sampled=0
        raw = []
    msgs = [_raw(topic, payload, prefix) for _at, topic, payload in raw]
    for c in changes:
        c.wire = sum(_touches(c, m) for m, _b in msgs)
    totals: Counter[str] = Counter()
    for c in changes:
        totals[c.action] += c.stored if c.stored is not None else c.wire
    return Effect(
        policy=spec.id,
        since=since,
        until=end,
        window_s=window_s,
        stored=stored,
        totals={a: totals[a] for a in ACTIONS if a in totals},
        changes=changes,
        wire_sampled=len(msgs),
        example=_pick_example(conn, plan, gate, changes, msgs),
    )


def _pick_example(
    conn: Any,
    plan: Minimizer,
    gate: Gate,
    changes: list[Change],
    msgs: list[tuple[dict[str, Any], dict[str, Any] | None]],
) -> Example | None:
    """The newest message the most telling change touches: a stored one when it is kept."""

    def score(msg: dict[str, Any]) -> tuple[int, int]:
        """The most telling change first, then the most fields it changes."""
        touching = [c for c in changes if _touches(c, msg)]
        if not touching:
            return (len(RANK), 0)
        names = {f["name"] for f in msg["fields"]}
        n = sum(len(names & set(c.fields)) for c in touching)
        return (min(RANK[c.action] for c in touching), -n)

    scored = [(score(m), m, b) for m, b in msgs if b is not None]
    best = min((sc for sc, _m, _b in scored), default=(len(RANK), 0))
    if best[0] == len(RANK):
        return None
    # of those, the newest whose stored event is there (the ingest may not have it yet)
    pool = [(m, b) for sc, m, b in reversed(scored) if sc == best]
    ids = [str(b["id"]) for _m, b in pool]
    rows = {r._mapping["id"]: r for r in conn.execute(select(events).where(events.c.id.in_(ids)))}
    for msg, body in pool:
        if str(body["id"]) in rows:
            return example_of(plan, gate, msg, body, rows[str(body["id"])])
    msg, body = pool[0]
    return example_of(plan, gate, msg, body, None)
