"""Apply a policy to one event, before anything of it is stored or seen by the rules.

:class:`Minimizer` compiles a :class:`PolicySpec` into a plan per event kind (which fields to
drop, pseudonymize, generalize) and applies it to decoded events. Each action is resolved,
when the policy loads, to one step per field it selects (``Minimizer._step``, exhaustive
over the spec's :data:`Action`): no action is looked up by its name per event, and one the
spec does not know is refused at load, never skipped at apply time. What it removes never
leaves this module: the ingest stores, and the rules see, only the :class:`Kept` result.

Pseudonyms are keyed hashes (HMAC-SHA256) of the value, its field and the salt period (the
town's day, ISO week, or none), with a secret key that never leaves the command center:
the same household gets the same pseudonym all day (so a day's readings still link) and
another one tomorrow (so its routine over weeks does not). The pseudonym and its original
go to the key holder's escrow table, readable only through an audited reveal.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, assert_never, get_args

import h3

from services.events.contract import KINDS, EventBase, Privacy
from services.events.keys import write_private_once
from services.events.town import AQKOL_TZ, UTC_OFFSET_HOURS, WATCHLISTS
from services.events.wire import data_items
from services.policy.spec import Action, PolicyError, PolicySpec, Transform

LOCAL_OFFSET_S = UTC_OFFSET_HOURS * 3600
_LOCAL_OFFSET = timedelta(seconds=LOCAL_OFFSET_S)
BIOMETRIC_KINDS = ("camera.face_match",)


class Kept(NamedTuple):
    """What is left of an event after the policy: this is what is stored."""

    id: str
    kind: str
    source: str
    ts: datetime
    lat: float | None
    lon: float | None
    data: dict[str, Any]
    agg: bool = False  # one contribution to a block-level aggregate (summed when stored)


# One event's parts while a plan's steps change them, at these indexes (``SENT_*``: as it
# came; ``PERIOD``: the pseudonyms' salt period, computed when first needed). A list, as
# one is made per event: a third of the cost of an object with named slots.
SOURCE, TS, LAT, LON, DATA, PERIOD, SENT_TS, SENT_LAT, SENT_LON = range(9)
Parts = list[Any]
Step = Callable[[Parts], None]  # one transform on one field, resolved when the policy loads
ACTIONS: frozenset[str] = frozenset(get_args(Action))


@dataclass
class _KindPlan:
    drop_event: str | None = None  # why every event of the kind is dropped
    ops: list[tuple[Action, str, Transform]] = field(default_factory=list)  # (action, field, t)
    steps: list[Step] = field(default_factory=list)  # ops, resolved: run in order on each event
    removed: dict[str, str] = field(default_factory=dict)  # field -> why rules cannot use it
    gone: set[str] = field(default_factory=set)  # data fields already dropped
    aggregate: Transform | None = None  # events of the kind are summed per block and interval
    masked: dict[str, str] = field(default_factory=dict)  # field -> pseudonymized (equality only)


def load_secret(var_dir: Path, configured: str | None = None) -> bytes:
    """The pseudonym key: configured (AQKOL_PSEUDONYM_KEY), else kept in var/pseudonym.key."""
    if configured:
        return configured.encode()
    # 0600 from its first byte, and one key for every process starting together
    return write_private_once(var_dir / "pseudonym.key", secrets.token_bytes(32))


def _fields_of(kind: str, t: Transform) -> list[str]:
    """The fields of ``kind`` that transform ``t`` selects (envelope and data.<name>)."""
    cls = KINDS[kind]
    privacy = cls.privacy()
    picked: list[str] = []
    for f in t.select.fields:
        if f in ("source", "geo", "ts") or f.removeprefix("data.") in privacy:
            picked.append(f)
    for cat in t.select.categories:
        if cat == cls.SOURCE_PRIVACY:
            picked.append("source")
        if cat == Privacy.QUASI:
            picked += ["geo", "ts"]
        picked += [f"data.{n}" for n, c in privacy.items() if c == cat]
    return list(dict.fromkeys(picked))


PSEUDONYM_CACHE = 100_000  # pseudonyms kept computed (then the cache starts again)


class Minimizer:
    """A compiled policy. ``apply`` each decoded event; ``removed`` tells the rules engine."""

    def __init__(self, spec: PolicySpec, secret: bytes = b""):
        self.spec = spec
        self.secret = secret
        self._pseudonyms: dict[str, str] = {}  # "domain|period|value" -> pseudonym
        self._periods: dict[Any, str] = {}  # local date -> salt period
        self.passthrough = (
            not spec.transforms
            and spec.biometric.mode == "realtime"
            and set(spec.biometric.watchlists) >= set(WATCHLISTS)
        )
        self._centres: dict[tuple[float, float, int], tuple[float, float]] = {}
        self.escrow: list[tuple[str, str, str, str]] = []  # pseudonyms made since last taken
        self.plans: dict[str, _KindPlan] = {k: _KindPlan() for k in KINDS}
        for t in spec.transforms:
            if t.action not in ACTIONS:  # a transform built without validation
                known = ", ".join(sorted(ACTIONS))
                reason = f"unknown action {t.action!r} (known: {known})"
                raise PolicyError(f"policy {spec.id}", None, reason)
            for kind in t.select.kinds or sorted(KINDS):
                self._plan(self.plans[kind], kind, t)
        bio = spec.biometric
        self.watchlists = set(bio.watchlists)
        for kind in BIOMETRIC_KINDS:
            plan = self.plans[kind]
            if bio.mode in ("off", "verification") and not plan.drop_event:
                plan.drop_event = f"biometric mode {bio.mode}: no identification against lists"

    def _plan(self, plan: _KindPlan, kind: str, t: Transform) -> None:
        """Add what ``t`` does to events of ``kind`` to their plan, each field's step
        resolved now (a field the action does not fit is left as it is)."""
        if plan.drop_event:
            return
        only_kinds = not t.select.fields and not t.select.categories
        if t.action == "drop" and only_kinds:
            where = " at the edge (the devices send none)" if t.at == "edge" else ""
            plan.drop_event = f"policy {self.spec.id} drops {kind} events{where}"
            return
        fields = _fields_of(kind, t) if not only_kinds else ["source", "geo"]
        if t.action == "aggregate":
            plan.aggregate = t
            fields = ["source", "geo", "ts"] + [
                f"data.{n}" for n, c in KINDS[kind].privacy().items() if c == Privacy.IDENTIFIER
            ]
        for f in fields:
            if f in plan.gone:
                continue
            if t.action in ("drop", "aggregate") and f.startswith("data."):
                plan.gone.add(f)
            step = self._step(t.action, f, t, kind)
            if step is None:
                continue
            plan.ops.append((t.action, f, t))
            plan.steps.append(step)
            if t.action == "drop" or (t.action == "aggregate" and f.startswith("data.")):
                verb = "drops" if t.action == "drop" else "drops (aggregate only)"
                plan.removed.setdefault(f, f"policy {self.spec.id} {verb} it")
            elif t.action in ("pseudonymize", "aggregate"):
                plan.masked.setdefault(f, f"policy {self.spec.id} pseudonymizes it")

    def _step(self, action: Action, f: str, t: Transform, kind: str) -> Step | None:
        """What ``action`` of ``t`` does to field ``f`` of ``kind`` events, or None where it
        does not fit (a place or time has no pseudonym, a text no rounding). Every action
        is handled here, once per policy load: none is looked up by name per event."""
        name = f.removeprefix("data.")
        match action:
            case "drop":
                if f == "geo":
                    return _drop_geo
                if f == "source":  # every event has one (the spec refuses dropping it by
                    # name; an identifier category selects it): it goes as a pseudonym
                    return self._pseudonymize_source
                if f == "ts":  # the spec refuses it by name and by category
                    raise PolicyError(f"policy {self.spec.id}", None, "ts cannot be dropped")
                return _drop_data(name)
            case "pseudonymize":
                if f in ("geo", "ts"):
                    return None
                if f == "source":
                    return self._pseudonymize_source
                return self._pseudonymize_data(name)
            case "generalize":
                if f == "geo":
                    return None if t.h3_res is None else self._cell_centre(t.h3_res)
                if f == "ts":
                    return None if t.minutes is None else _bucket(t.minutes * 60)
                if f == "source":
                    return None
                ann = str(KINDS[kind].model_fields[name].annotation)
                if t.round is None or not any(x in ann for x in ("float", "int")):
                    return None
                return _round_data(name, t.round)
            case "aggregate":  # the spec requires both h3_res and minutes
                assert t.h3_res is not None and t.minutes is not None
                if f == "geo":
                    return self._cell_centre(t.h3_res)
                if f == "ts":
                    return _bucket(t.minutes * 60)
                if f == "source":
                    return _block(t.h3_res)
                return _drop_data(name)
            case _:
                assert_never(action)

    # -- what the rules may rely on ------------------------------------------------------
    def removed(self, kind: str, field: str) -> str | None:
        """Why ``field`` of ``kind`` does not reach the rules as sent (None if it does)."""
        plan = self.plans[kind]
        if plan.drop_event:
            return plan.drop_event
        if kind in BIOMETRIC_KINDS and self.spec.biometric.mode == "retrospective":
            return "biometric mode retrospective: stored for search, no real-time identification"
        return plan.removed.get(field)

    def pseudonymized(self, kind: str, field: str) -> str | None:
        """Why ``field`` of ``kind`` reaches the rules only as a pseudonym (None if not):
        fine to group or deduplicate by, useless to compare with a value."""
        return self.plans[kind].masked.get(field)

    def dropped_kind(self, kind: str) -> str | None:
        """Why no event of ``kind`` is kept, or None."""
        return self.plans[kind].drop_event

    def refused_watchlists(self) -> set[str]:
        """Watch lists real-time identification may not match under this policy."""
        return set(WATCHLISTS) - self.watchlists

    # -- applying ----------------------------------------------------------------------
    def period(self, ts: datetime) -> str:
        if ts.utcoffset() == _LOCAL_OFFSET:  # the town's own clock, as devices send it
            key = ts.date()
            p = self._periods.get(key)
            if p is None:
                p = self._periods[key] = self._period(ts)
            return p
        return self._period(ts)

    def _period(self, ts: datetime) -> str:
        local = ts.astimezone(AQKOL_TZ)
        salt = self.spec.pseudonym_salt
        if salt == "daily":
            return local.date().isoformat()
        if salt == "weekly":
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        return "all"

    def pseudonym(self, value: Any, domain: str, period: str) -> str:
        msg = f"{domain}|{period}|{value}"
        p = self._pseudonyms.get(msg)  # a meter reports 48 times a day: one HMAC a day
        if p is None:
            if len(self._pseudonyms) >= PSEUDONYM_CACHE:
                self._pseudonyms.clear()
            p = "ps-" + hmac.new(self.secret, msg.encode(), hashlib.sha256).hexdigest()[:20]
            self._pseudonyms[msg] = p
        return p

    def apply(self, ev: EventBase | Any) -> Kept | None:
        """The event as the policy keeps it, or None if it drops the event."""
        data = {k: v for k, v in data_items(ev.data) if v is not None}
        geo = ev.geo
        lat, lon = (geo.lat, geo.lon) if geo else (None, None)
        return self.keep(ev.id, ev.kind, ev.source, ev.ts, lat, lon, data)

    def keep(
        self,
        eid: str,
        kind: str,
        source: str,
        ts: datetime,
        lat: float | None,
        lon: float | None,
        data: dict[str, Any],
    ) -> Kept | None:
        """:meth:`apply` on an event's parts; ``data`` (its fields that are not None) becomes
        the kept event's, changed in place."""
        if self.passthrough:
            return Kept(eid, kind, source, ts, lat, lon, data)
        plan = self.plans[kind]
        if plan.drop_event:
            return None
        if kind in BIOMETRIC_KINDS and data.get("watchlist") not in self.watchlists:
            return None
        off = self.spec.biometric.mode == "off"
        if off and kind == "access.entry" and data.get("method") == "face":
            return None
        if plan.steps:
            p = [source, ts, lat, lon, data, None, ts, lat, lon]
            for step in plan.steps:
                step(p)
            source, ts, lat, lon = p[SOURCE], p[TS], p[LAT], p[LON]
        if plan.aggregate is not None:  # only the measures go on, to be summed per block
            data = {
                n: v
                for n, v in data.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            return Kept(eid, kind, source, ts, lat, lon, data, True)
        return Kept(eid, kind, source, ts, lat, lon, data)

    def _centre(self, lat: float, lon: float, res: int) -> tuple[float, float]:
        """The centre of the H3 cell at ``res`` holding (lat, lon), to 6 decimals; cached,
        as most sensors stay put."""
        key = (lat, lon, res)
        c = self._centres.get(key)
        if c is None:
            if len(self._centres) >= 100_000:
                self._centres.clear()  # moving vehicles: bounded
            y, x = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, res))
            c = self._centres[key] = (round(y, 6), round(x, 6))
        return c

    def _cell_centre(self, res: int) -> Step:
        """Generalize (or aggregate) the place: the centre of its H3 cell at ``res``."""
        known, centre = self._centres, self._centre

        def step(p: Parts) -> None:
            lat = p[LAT]
            if lat is not None:  # most sensors stay put: their cell is looked up once
                p[LAT], p[LON] = known.get((lat, p[LON], res)) or centre(lat, p[LON], res)

        return step

    def _pseudonymize_source(self, p: Parts) -> None:
        period = p[PERIOD] = p[PERIOD] or self.period(p[SENT_TS])
        ps = self.pseudonym(p[SOURCE], "source", period)
        self.escrow.append((ps, p[SOURCE], "source", period))
        p[SOURCE] = ps

    def _pseudonymize_data(self, name: str) -> Step:
        def step(p: Parts) -> None:
            data = p[DATA]
            if name in data:
                period = p[PERIOD] = p[PERIOD] or self.period(p[SENT_TS])
                v = data[name]
                ps = self.pseudonym(v, name, period)
                self.escrow.append((ps, str(v), name, period))
                data[name] = ps

        return step

    def take_escrow(self) -> list[tuple[str, str, str, str]]:
        """The (pseudonym, original, field, period) made since the last call."""
        out, self.escrow = self.escrow, []
        return out


def _drop_geo(p: Parts) -> None:
    p[LAT] = p[LON] = None


def _drop_data(name: str) -> Step:
    def step(p: Parts) -> None:
        p[DATA].pop(name, None)

    return step


def _bucket(step_s: int) -> Step:
    """Generalize (or aggregate) the time: the start of its bucket of ``step_s`` seconds,
    buckets starting at the town's midnight."""

    def step(p: Parts) -> None:
        local = p[TS].timestamp() + LOCAL_OFFSET_S
        p[TS] = datetime.fromtimestamp(local // step_s * step_s - LOCAL_OFFSET_S, AQKOL_TZ)

    return step


def _block(res: int) -> Step:
    """Aggregate the source: the block (H3 cell at ``res``) the event was sent from."""

    def step(p: Parts) -> None:
        lat, lon = p[SENT_LAT], p[SENT_LON]
        p[SOURCE] = "blk-unknown" if lat is None else f"blk-{h3.latlng_to_cell(lat, lon, res)}"

    return step


def _round_data(name: str, unit: float) -> Step:
    """Generalize a number to the nearest multiple of ``unit`` (an int stays an int)."""

    def step(p: Parts) -> None:
        data = p[DATA]
        v = data.get(name)
        if isinstance(v, int | float) and not isinstance(v, bool):
            g = math.floor(v / unit + 0.5) * unit
            data[name] = round(g, 9) if isinstance(v, float) else round(g)

    return step


def describe_plan(m: Minimizer) -> Iterable[tuple[str, str]]:
    """(kind, what happens to it), for ``aqkol policy show``."""
    for kind, plan in sorted(m.plans.items()):
        if plan.drop_event:
            yield kind, f"dropped ({plan.drop_event})"
        elif plan.ops:
            yield (
                kind,
                "; ".join(
                    f"{a} {f}" + (" (at the edge)" if t.at == "edge" else "")
                    for a, f, t in plan.ops
                ),
            )
        else:
            yield kind, "kept as sent"
