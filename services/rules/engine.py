"""Evaluate compiled rules on a stream of events, in event time.

The engine is pure (no database, no clock): the ingest feeds it the events it has just
stored, ``aqkol rules test`` feeds it a simulated day, the Rules page feeds it the day so
far. It returns :class:`Candidate` alerts; :mod:`services.rules.alerts` turns them into the
alert lifecycle. Time is the events' own ``ts``, so a replay raises the same alerts as the
live run did, at any speed.

A rule whose needed fields the active data-minimization policy removes is *blinded*: it is
not evaluated at all (it never fires on partial data) and :meth:`RuleEngine.status` says
why. An expression that fails on one event (a field missing, a type mismatch) counts as an
evaluation error of the rule, shown with the last reason; the ingest goes on.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import cel
import shapely
from shapely.geometry import Point, Polygon

from services.events.geo import STORE_H3_RES, cell_of, to_xy
from services.events.townmap import town_map
from services.rules.expr import MEMO_SIZE, Expression, ExpressionError, evaluate
from services.rules.spec import CompiledRule


class Event(NamedTuple):
    """What a rule sees of an event (a tuple: cheap to build once per event)."""

    id: str | None
    kind: str
    source: str
    ts: datetime
    data: dict[str, Any]
    lat: float | None = None
    lon: float | None = None
    truth: dict[str, Any] | None = None  # ground truth, in replays only; rules never see it
    t: float = 0.0  # ts as Unix seconds

    @classmethod
    def make(
        cls,
        id: str | None,
        kind: str,
        source: str,
        ts: datetime,
        data: dict[str, Any],
        lat: float | None = None,
        lon: float | None = None,
        truth: dict[str, Any] | None = None,
    ) -> Event:
        return cls(id, kind, source, ts, data, lat, lon, truth, ts.timestamp())

    @classmethod
    def from_dict(cls, ev: dict[str, Any], truth: dict[str, Any] | None = None) -> Event:
        """From an event as JSON-ready data (the simulator's, or a stored row's)."""
        ts = ev["ts"]
        geo = ev.get("geo") or {}
        data = {k: v for k, v in ev["data"].items() if v is not None}
        ts = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
        return cls.make(
            ev.get("id"), ev["kind"], ev["source"], ts, data, geo.get("lat"), geo.get("lon"), truth
        )


@dataclass(frozen=True)
class Candidate:
    """An alert the rules raise (or repeat) at ``ts``."""

    rule: str
    dedup_key: str
    title: str
    severity: str
    ts: datetime
    kind: str
    source: str
    lat: float | None
    lon: float | None
    value: float | None
    event_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] | None = None


TICK_S = 30.0  # silence is checked every 30 s of event time


class FieldPolicy(Protocol):
    """What the active data-minimization policy does to a contract field."""

    def removed(self, kind: str, field: str) -> str | None:
        """Why ``field`` of ``kind`` no longer reaches the rules, or None if it does."""


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


class _Window:
    """Values of one group over the last ``span`` seconds of event time.

    Keeps a running sum and count of the numeric values, and a tally of distinct values
    only for ``distinct``; min and max look at the (short) window itself.
    """

    __slots__ = ("distinct", "items", "nums", "span", "sum")

    def __init__(self, span: float, distinct: bool):
        self.span = span
        self.items: deque[tuple[float, Any, float | None]] = deque()
        self.sum = 0.0
        self.nums = 0
        self.distinct: Counter[Any] | None = Counter() if distinct else None

    def add(self, t: float, v: Any) -> None:
        n = _num(v)
        self.items.append((t, v, n))
        if n is not None:
            self.sum += n
            self.nums += 1
        if self.distinct is not None:
            self.distinct[v] += 1
        cut = t - self.span
        items = self.items
        while items[0][0] <= cut:
            _, old, n = items.popleft()
            if n is not None:
                self.sum -= n
                self.nums -= 1
            if self.distinct is not None:
                self.distinct[old] -= 1
                if not self.distinct[old]:
                    del self.distinct[old]

    def value(self, agg: str) -> float:
        if agg == "count":
            return float(len(self.items))
        if agg == "distinct":
            return float(len(self.distinct or ()))
        if not self.nums:
            return 0.0
        if agg == "sum":
            return round(self.sum, 9)
        if agg == "avg":
            return self.sum / self.nums
        nums = [n for _, _, n in self.items if n is not None]
        return float(min(nums) if agg == "min" else max(nums))


class _RuleState:
    def __init__(self, rule: CompiledRule, blinded: str | None):
        self.rule = rule
        self.blinded = blinded
        self.evaluations = 0
        self.matches = 0
        self.errors = 0
        self.last_error: str | None = None
        self.windows: dict[str, _Window] = {}
        self.cell_of_group: dict[str, str] = {}
        self.cell_sum: dict[str, float] = {}
        self.cell_groups: dict[str, dict[str, float]] = {}
        self.streak: dict[str, tuple[float, int]] = {}  # key -> (since, count)
        self.kind_watermark: float | None = None  # newest event of the rule's kinds
        self.times: dict[str, list[float]] = {}  # silence: recent event times per source
        self.last_ev: dict[str, Event] = {}
        self.judged: dict[str, float] = {}  # silence: judged up to, per source
        self.fence: Any = None
        self.wctx: Any = None  # the window's CEL context, kept between events
        self.wctx_version = -1
        self.alert_vars: frozenset[str] | None = None  # what the window's alert_when reads
        self.gate_version = -1  # the `latest` its gate was judged on
        self.gate_shut = False  # the gate was false: so is alert_when
        self.fence_circle: tuple[float, float, float] | None = None
        fence = rule.spec.where
        if fence is not None and fence.polygon is not None:
            poly = Polygon([to_xy(lat, lon) for lat, lon in fence.polygon])
            shapely.prepare(poly)
            self.fence = poly
        elif fence is not None and fence.place is not None:
            place = town_map().place(fence.place)
            self.fence_circle = (place.x, place.y, fence.radius_m)

    def inside(self, ev: Event) -> bool:
        if self.fence is None and self.fence_circle is None:
            return True
        if ev.lat is None or ev.lon is None:
            return False
        x, y = to_xy(ev.lat, ev.lon)
        if self.fence_circle is not None:
            cx, cy, r = self.fence_circle
            return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        return bool(self.fence.contains(Point(x, y)))

    def status(self) -> dict[str, Any]:
        spec = self.rule.spec
        state = "blinded" if self.blinded else ("active" if spec.enabled else "disabled")
        return {
            "id": spec.id,
            "state": state,
            "reason": self.blinded,
            "evaluations": self.evaluations,
            "matches": self.matches,
            "errors": self.errors,
            "last_error": self.last_error,
        }


def blinded_reason(rule: CompiledRule, policy: FieldPolicy | None) -> str | None:
    """Why the policy blinds ``rule`` (the first field it removes), or None."""
    if policy is None:
        return None
    dropped = getattr(policy, "dropped_kind", lambda _k: None)
    for kind in rule.spec.kinds + rule.spec.context:
        why = dropped(kind)
        if why:
            return f"the active policy keeps no {kind} events: {why}"
        for f in rule.needs:
            why = policy.removed(kind, f)
            if why:
                return f"the active policy removes {f} of {kind}: {why}"
        masked = getattr(policy, "pseudonymized", lambda _k, _f: None)
        for f in rule.compares:
            why = masked(kind, f)
            if why:
                return f"{f} of {kind} is only a pseudonym under the active policy ({why})"
    refused = getattr(policy, "refused_watchlists", lambda: set())()
    if "camera.face_match" in rule.spec.kinds and rule.when is not None:
        for name in sorted(refused):
            if f'"{name}"' in rule.when.source or f"'{name}'" in rule.when.source:
                return f"the active policy refuses identification against the {name!r} list"
    return None


_MISS = object()


class _Act:
    """One event as the expressions see it: fields read directly where an expression is a
    shortcut, else a CEL context built on first use and shared by the kind's rules."""

    __slots__ = ("_ctx", "engine", "ev", "fields", "names")

    def __init__(self, engine: RuleEngine, ev: Event):
        self.engine, self.ev = engine, ev
        self.names, self.fields = engine._names[ev.kind], engine._fields[ev.kind]
        self._ctx: Any = None

    def eval(self, expr: Expression) -> Any:
        cut = expr.shortcut
        if cut is not None:
            how, arg = cut
            if how == "const":
                return arg
            if how == "attr":
                return getattr(self.ev, arg)
            try:
                return self.ev.data[arg]
            except KeyError:
                raise ExpressionError(f"no field {arg!r} in this event") from None
        key = None
        if expr.memo_fields is not None:
            data = self.ev.data
            try:
                key = tuple([data[f] for f in expr.memo_fields])
            except KeyError:
                key = None  # a missing field: evaluate, so that has() and errors are CEL's
            else:
                hit = expr.memo.get(key, _MISS)
                if hit is not _MISS:
                    return hit
        if self._ctx is None:
            self._ctx = self.engine._activation(self.ev, self.names, self.fields)
        out = evaluate(expr, self._ctx)
        if key is not None:
            if len(expr.memo) >= MEMO_SIZE:
                expr.memo.clear()
            expr.memo[key] = out
        return out


class RuleEngine:
    """All enabled rules; feed events in time order with :meth:`process`."""

    def __init__(
        self,
        rules: Iterable[CompiledRule],
        policy: FieldPolicy | None = None,
        previous: RuleEngine | None = None,
    ):
        """``previous``: an engine whose state (windows, streaks) carries over to the rules
        that did not change (a reload keeps a half-full window of an untouched rule)."""
        self.rules = list(rules)
        self.policy = policy
        old = previous.states if previous is not None else {}
        self.states = {}
        for r in self.rules:
            st = old.get(r.id)
            blind = blinded_reason(r, policy)
            if st is not None and st.rule.spec == r.spec and st.blinded == blind:
                st.rule = r
            else:
                st = _RuleState(r, blind)
            self.states[r.id] = st
        self.by_kind: dict[str, list[_RuleState]] = {}
        self.context_kinds: set[str] = set()
        for st in self.states.values():
            if st.blinded or not st.rule.spec.enabled:
                continue
            for k in st.rule.spec.kinds:
                self.by_kind.setdefault(k, []).append(st)
            self.context_kinds.update(st.rule.spec.context)
        self._names: dict[str, frozenset[str]] = {}
        self._fields: dict[str, frozenset[str] | None] = {}
        for kind, states in self.by_kind.items():
            exprs = [e for st in states for e in st.rule.event_exprs if e.shortcut is None]
            self._names[kind] = frozenset().union(*(e.program.variables() for e in exprs))
            wanted = [e.data_fields for e in exprs]
            self._fields[kind] = None if None in wanted else frozenset().union(*wanted)
        self.latest: dict[str, dict[str, Any]] = previous.latest if previous else {}
        self._latest_version = 0
        self._cells: dict[tuple[float, float, int], str] = {}
        self.watermark: datetime | None = previous.watermark if previous else None
        self._watermark_t = self.watermark.timestamp() if self.watermark else float("-inf")
        self._silence = [
            st
            for st in self.states.values()
            if st.rule.spec.silent_for_minutes is not None
            and not st.blinded
            and st.rule.spec.enabled
        ]
        self._ticked = float("-inf")

    def quiet_periods(self) -> dict[str, float]:
        """Rule id -> minutes without a repeat after which its alerts clear themselves."""
        return {r.id: r.spec.clear_after_minutes for r in self.rules if r.spec.clear_after_minutes}

    def alert_meta(self) -> dict[str, tuple[str, bool]]:
        """Rule id -> (purpose, misuse), stored with each alert."""
        return {r.id: (r.spec.purpose, r.spec.misuse) for r in self.rules}

    def wants(self, kind: str) -> bool:
        """Whether any rule looks at events of ``kind`` (the ingest skips the others)."""
        return kind in self.by_kind or kind in self.context_kinds

    def status(self) -> list[dict[str, Any]]:
        return [st.status() for st in self.states.values()]

    def process(self, ev: Event) -> list[Candidate]:
        """The alerts ``ev`` raises or repeats."""
        if ev.t > self._watermark_t:
            self.watermark, self._watermark_t = ev.ts, ev.t
        if ev.kind in self.context_kinds:
            self.latest[ev.kind] = ev.data
            self._latest_version += 1
        states = self.by_kind.get(ev.kind)
        if not states:
            return []
        out: list[Candidate] = []
        act = _Act(self, ev)
        for st in states:
            if not st.inside(ev):
                continue
            try:
                c = self._evaluate(st, ev, act)
            except ExpressionError as exc:
                st.errors += 1
                st.last_error = f"{ev.kind} from {ev.source}: {exc.reason}"
                continue
            if c is not None:
                out.append(c)
        return out

    def tick(self, now: datetime | None = None) -> list[Candidate]:
        """Alerts of silence (sources quiet too long) as of ``now`` (default: the watermark).

        Silence is judged at the newest event of the rule's own kinds less the rule's allowed
        lateness, because events from a town arrive out of order by seconds (several MQTT
        connections, redeliveries), which at 300x is many simulated minutes. By then every
        event up to that time is in, so a gap found there is real: a silence that has ended
        is reported once (with when it began and ended); one that goes on repeats every tick.
        """
        if not self._silence:
            return []
        if now is None:  # the common case, once per event: no datetime arithmetic
            if self.watermark is None or self._watermark_t - self._ticked < TICK_S:
                return []
            now, t_now = self.watermark, self._watermark_t
        else:
            t_now = now.timestamp()
            if t_now - self._ticked < TICK_S:
                return []
        self._ticked = t_now
        out = []
        for st in self._silence:
            spec = st.rule.spec
            quiet = (spec.silent_for_minutes or 0) * 60
            if st.kind_watermark is None:
                continue
            judge = min(t_now, st.kind_watermark) - spec.allowed_lateness_minutes * 60
            for src, times in st.times.items():
                i = bisect.bisect_right(times, judge)
                if i == 0:
                    continue
                before = st.judged.get(src, float("-inf"))
                for a, b in itertools.pairwise(times[:i]):
                    if b - a >= quiet and b > before:
                        out.append(self._silence_alert(st, src, a, quiet, now, b))
                if judge - times[i - 1] >= quiet:
                    out.append(self._silence_alert(st, src, times[i - 1], quiet, now, None, judge))
                st.judged[src] = judge
                del times[: i - 1]  # keep the newest judged time: gaps start there
        return out

    def _silence_alert(
        self,
        st: _RuleState,
        src: str,
        since: float,
        quiet: float,
        now: datetime,
        back: float | None,
        judge: float | None = None,
    ) -> Candidate:
        tz = now.tzinfo
        st.matches += 1
        end = back if back is not None else judge
        details: dict[str, Any] = {
            "silent_since": datetime.fromtimestamp(since, tz).isoformat(),
            "silent_for_minutes": quiet / 60,
        }
        if back is not None:
            details["back_at"] = datetime.fromtimestamp(back, tz).isoformat()
        at = datetime.fromtimestamp(since + quiet if back is not None else end, tz)  # type: ignore[operator]
        minutes = round((end - since) / 60, 1)  # type: ignore[operator]
        return self._candidate(st, st.last_ev[src], src, at, minutes, details)

    # -- internals ---------------------------------------------------------------------
    def _activation(self, ev: Event, names: frozenset[str], fields: frozenset[str] | None) -> Any:
        """The CEL context of ``ev`` with only the variables (and data fields) rules read."""
        v: dict[str, Any] = {}
        if "data" in names:
            data = ev.data
            v["data"] = data if fields is None else {k: data[k] for k in fields if k in data}
        if "source" in names:
            v["source"] = ev.source
        if "kind" in names:
            v["kind"] = ev.kind
        if "ts" in names:
            v["ts"] = ev.ts
        if "geo" in names:
            v["geo"] = {"lat": ev.lat, "lon": ev.lon} if ev.lat is not None else {}
        if "cell" in names:
            v["cell"] = self._cell(ev, STORE_H3_RES)
        if "latest" in names:
            v["latest"] = self.latest
        return cel.Context(variables=v)

    def _evaluate(self, st: _RuleState, ev: Event, act: _Act) -> Candidate | None:
        rule, spec = st.rule, st.rule.spec
        st.evaluations += 1
        ok = True if rule.when is None else act.eval(rule.when)
        if not isinstance(ok, bool):
            raise ExpressionError(f"'when' gave {type(ok).__name__} {ok!r}, not true/false")
        t = ev.t
        if spec.silent_for_minutes is not None:
            if st.kind_watermark is None or t > st.kind_watermark:
                st.kind_watermark = t
            if ok:  # judged at the tick, once the rule's lateness has let late events in
                bisect.insort(st.times.setdefault(ev.source, []), t)
                st.last_ev[ev.source] = ev
            return None
        value: float | None
        details: dict[str, Any] = {}
        if spec.window is not None:
            if not ok:
                return None
            key, value, fire, details = self._window(st, ev, act, t)
        else:
            persistent = spec.for_minutes is not None or spec.in_a_row is not None
            if not ok and not persistent:
                return None
            try:
                key = self._key(rule.key, act, ev)
            except ExpressionError:
                if ok:
                    raise
                return None  # a non-match without a key: nothing to reset
            fire = ok
            if not fire:
                self._persists(st, key, False, t)
                return None
            if rule.value is not None:
                value = _num(act.eval(rule.value))
            else:
                value = _num(ev.data.get(_headline(ev.kind))) if _headline(ev.kind) else None
        if not self._persists(st, key, fire, t):
            return None
        st.matches += 1
        return self._candidate(st, ev, key, ev.ts, value, details)

    def _key(self, expr: Expression | None, act: _Act, ev: Event) -> str:
        if expr is None:
            return ev.source
        k = act.eval(expr)
        return str(k)[:200]

    def _window(
        self, st: _RuleState, ev: Event, act: _Act, t: float
    ) -> tuple[str, float, bool, dict[str, Any]]:
        rule, w = st.rule, st.rule.spec.window
        assert w is not None
        if w.by == "source":
            group = ev.source
        elif w.by == "town":
            group = "town"
        elif w.by == "cell":
            group = self._cell(ev, w.cell_res) or "no-position"
        else:
            group = self._key(rule.by, act, ev)
        v = act.eval(rule.of) if rule.of is not None else 1
        win = st.windows.get(group)
        if win is None:
            win = st.windows[group] = _Window(w.minutes * 60, w.aggregate == "distinct")
        win.add(t, v)
        value = win.value(w.aggregate)
        wanted = st.alert_vars
        if wanted is None:
            wanted = st.alert_vars = frozenset(rule.alert_when.program.variables())
        # one context per rule, kept: "latest" is converted again only when it changed
        if st.wctx is None or st.wctx_version != self._latest_version:
            st.wctx = cel.Context(variables={"latest": self.latest} if "latest" in wanted else {})
            st.wctx_version = self._latest_version
        cell = self._cell(ev, w.cell_res)
        nb = None
        if w.neighbours:
            nb = self._neighbours(st, group, cell, value)
            if nb is None:  # nobody to compare with
                return group, value, False, {}  # (details only matter when it fires)
        gate = rule.alert_gate
        if gate is not None:  # its terms on `latest` alone, judged when `latest` changes
            if st.gate_version != self._latest_version:
                st.gate_version = self._latest_version
                try:
                    st.gate_shut = evaluate(gate, st.wctx) is False
                except ExpressionError:
                    st.gate_shut = False  # the whole expression reports it
            if st.gate_shut:
                return group, value, False, {}
        wact: dict[str, Any] = {"value": value}
        if "cell" in wanted:
            wact["cell"] = cell
        if "source" in wanted:
            wact["source"] = ev.source
        if w.neighbours:
            wact["neighbours"] = nb
        for name, v in wact.items():
            st.wctx.add_variable(name, v)
        fire = evaluate(rule.alert_when, st.wctx)
        if not isinstance(fire, bool):
            raise ExpressionError(f"'alert_when' gave {type(fire).__name__}, not true/false")
        details: dict[str, Any] = {"window_minutes": w.minutes, "aggregate": w.aggregate}
        if w.neighbours:
            details["neighbours"] = round(nb, 3)  # type: ignore[arg-type]
        return group, value, fire, details

    def _cell(self, ev: Event, res: int) -> str:
        """The H3 cell of the event's position ("" without one); cached, as sensors stay put."""
        if ev.lat is None or ev.lon is None:
            return ""
        key = (ev.lat, ev.lon, res)
        cell = self._cells.get(key)
        if cell is None:
            if len(self._cells) >= 100_000:
                self._cells.clear()
            cell = self._cells[key] = cell_of(ev.lat, ev.lon, res)
        return cell

    def _neighbours(self, st: _RuleState, group: str, cell: str, value: float) -> float | None:
        old_cell = st.cell_of_group.get(group)
        if old_cell is not None:
            old = st.cell_groups[old_cell].pop(group)
            st.cell_sum[old_cell] -= old
        st.cell_of_group[group] = cell
        members = st.cell_groups.setdefault(cell, {})
        members[group] = value
        st.cell_sum[cell] = st.cell_sum.get(cell, 0.0) + value
        n = len(members) - 1
        return (st.cell_sum[cell] - value) / n if n > 0 else None

    def _persists(self, st: _RuleState, key: str, fire: bool, t: float) -> bool:
        spec = st.rule.spec
        if spec.for_minutes is None and spec.in_a_row is None:
            return fire
        if not fire:
            st.streak.pop(key, None)
            return False
        since, n = st.streak.get(key, (t, 0))
        st.streak[key] = (since, n + 1)
        if spec.in_a_row is not None:
            return n + 1 >= spec.in_a_row
        return t - since >= spec.for_minutes * 60  # type: ignore[operator]

    def _candidate(
        self,
        st: _RuleState,
        ev: Event,
        key: str,
        ts: datetime,
        value: float | None,
        details: dict[str, Any],
    ) -> Candidate:
        spec = st.rule.spec
        shown = f"{value:g}" if isinstance(value, float) else ""
        title = f"{spec.title}: {key}" + (f" ({shown})" if shown else "")
        if spec.misuse:
            details = {**details, "misuse": True}
        return Candidate(
            rule=spec.id,
            dedup_key=key,
            title=title,
            severity=spec.severity,
            ts=ts,
            kind=ev.kind,
            source=ev.source,
            lat=ev.lat,
            lon=ev.lon,
            value=value,
            event_id=ev.id,
            details=details,
            truth=ev.truth,
        )


def _headline(kind: str) -> str | None:
    from services.events.contract import KINDS

    return KINDS[kind].VALUE_FIELD


def run(engine: RuleEngine, events: Iterable[Event], sink: Callable[[Candidate], None]) -> None:
    """Feed ``events`` (in time order) and pass every candidate, silence included, to sink."""
    for ev in events:
        for c in engine.process(ev):
            sink(c)
        for c in engine.tick():
            sink(c)
