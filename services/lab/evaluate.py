"""One policy evaluated on one lab day: every attack and every utility metric, as tidy rows.

A row is ``{"metric": ..., "value": ..., "points": p or None, "rule": id or None}``; the
runner adds the policy, seed, scenario and parameters.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial, wraps
from typing import Any, TypeVar

import orjson
import pandas as pd

from services.lab.data import LabDay
from services.lab.registry import measures, metric_names
from services.lab.store import (
    FaceView,
    apply_policy,
    face_view,
    iter_kept,
    kept_frames,
    minimizer,
    plain_kinds,
)
from services.lab.traces import face_traces, retention_days, within_retention
from services.policy.spec import DP, PolicySpec, Release, Retention

log = logging.getLogger(__name__)
T = TypeVar("T")


def __getattr__(name: str) -> Any:  # the registry's lists, computed when first asked for
    if name == "METRIC_GROUPS":
        return tuple(measures())
    if name == "METRIC_NAMES":
        return metric_names()
    raise AttributeError(name)


HALF_HOUR_MS = 1_800_000
ALERTS_VERSION = 2  # of how alerts are judged: bump to invalidate cached alert scores
FRAME_KINDS = {
    "camera.crowd",
    "gas.reading",
    "payment.gas",
    "school.attendance",
    "env.reading",
}  # what the metrics read as tables


@dataclass(frozen=True)
class Params:
    """The swept parameters of one cell (None: the policy's own)."""

    h3_res: int | None = None  # resolution of the known points (None: as the policy stores)
    time_bucket_min: int = 60  # resolution of the known points in time (the paper: hourly)
    epsilon: float | None = None  # heatmap release noise (overrides the policy's)
    salt: str | None = None  # pseudonym rotation (overrides the policy's)
    k_min: int | None = None  # heatmap suppression (overrides the policy's)
    retention_days: float | None = None  # every kind kept this long (overrides the policy's)
    points: tuple[int, ...] = (1, 2, 4, 8)
    trajectory_people: int | None = None  # None: every resident of the town
    release_hours: float = 3.0  # the release schedule: one layer per window of this length
    alert_rules: tuple[str, ...] | None = None  # None: every starter rule


def policy_with(spec: PolicySpec, p: Params) -> PolicySpec:
    """The policy with the cell's overrides (salt, epsilon, k_min, retention)."""
    upd: dict[str, Any] = {}
    if p.salt is not None:
        upd["pseudonym_salt"] = p.salt
    if p.retention_days is not None:
        upd["retention"] = Retention(default_days=p.retention_days)
    rel = spec.release
    if p.epsilon is not None or p.k_min is not None:
        dp = rel.dp
        if p.epsilon is not None:  # the policy's budget and unit (none: one release's worth)
            dp = DP(
                epsilon=p.epsilon,
                daily_budget=p.epsilon * 24 if dp is None else dp.daily_budget,
                unit="event" if dp is None else dp.unit,
            )
        upd["release"] = Release(k_min=p.k_min if p.k_min is not None else rel.k_min, dp=dp)
    return spec.model_copy(update=upd) if upd else spec


def _alerts_path(day: LabDay, spec: PolicySpec, rules: list) -> Any:
    """Where the alert scores of ``spec`` and ``rules`` on ``day`` are remembered: the day's
    cache folder, per policy (without its release settings, which the rules never see) and
    rule set, so that a sweep over the attacker's parameters replays the rules once per
    policy."""
    shape = spec.model_dump(mode="json", exclude={"release", "title", "description"})
    rule_key = sorted((r.id, r.spec.model_dump_json()) for r in rules)
    digest = hashlib.sha256(
        orjson.dumps([ALERTS_VERSION, shape, rule_key], option=orjson.OPT_SORT_KEYS)
    )
    return day.folder / f"alerts-{digest.hexdigest()[:16]}.json"


def _remember(path: Any, scores: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(scores))
    tmp.replace(path)


def forked(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``fn()`` in a forked child and return a function that waits for its result.

    The child inherits the parent's memory as it is (the kept events are not pickled), so
    the rule replay runs on the second core while the attacks run on the first; the result
    comes back as JSON (orjson round-trips floats exactly)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write, leave without running the parent's exit hooks
        os.close(r)
        code = 0
        try:
            blob = orjson.dumps({"ok": fn()})
        except BaseException as exc:  # reported by the parent
            blob, code = orjson.dumps({"error": f"{type(exc).__name__}: {exc}"}), 1
        with os.fdopen(w, "wb") as f:
            f.write(blob)
        os._exit(code)
    os.close(w)

    def wait() -> Any:
        with os.fdopen(r, "rb") as f:
            blob = f.read()
        os.waitpid(pid, 0)
        res = orjson.loads(blob) if blob else {"error": "the child process died"}
        if "error" in res:
            raise RuntimeError(f"rule replay failed in its process: {res['error']}")
        return res["ok"]

    return wait


def _rule_kinds(rules: list, m: Any) -> set[str]:
    """The kinds the rules read under the policy (those of the rules it blinds are not)."""
    from services.rules.engine import RuleEngine

    e = RuleEngine(rules, m)
    return set(e.by_kind) | e.context_kinds


def _replay_groups(rules: list, m: Any, day: LabDay, n: int = 2) -> list[list]:
    """``rules`` in at most ``n`` groups that read no kind in common (rules that share a
    kind stay together: a kind's events go through the policy once), about equal in the
    events they replay."""
    kinds = {r.id: _rule_kinds([r], m) for r in rules}
    parts: list[tuple[set[str], list]] = []  # the rules connected by the kinds they read
    for r in rules:
        joined = [p for p in parts if p[0] & kinds[r.id]]
        merged = (set(kinds[r.id]), [r])
        for p in joined:
            parts.remove(p)
            merged = (merged[0] | p[0], p[1] + merged[1])
        parts.append(merged)
    size = Counter(ev[1] for ev in day.events)

    def weight(p: tuple[set[str], list]) -> int:  # a window costs about three plain rules
        per_event = sum(3 if r.spec.window is not None else 1 for r in p[1])
        return sum(size.get(k, 0) for k in p[0]) * per_event

    groups: list[tuple[int, list]] = [(0, []) for _ in range(min(n, len(parts)))]
    for p in sorted(parts, key=weight, reverse=True):
        i = min(range(len(groups)), key=lambda j: groups[j][0])
        groups[i] = (groups[i][0] + weight(p), groups[i][1] + p[1])
    return [g for _w, g in groups if g]


def _collector_paused(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` with Python's cyclic garbage collector paused while it runs."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return run


class BudgetExceeded(ValueError):
    """A release schedule the policy's daily privacy budget cannot pay for."""


def check_schedule(spec: PolicySpec, release_hours: float) -> None:
    """Refuse a schedule of one release per ``release_hours`` whose day costs more than the
    policy's daily budget (each release spends epsilon: sequential composition)."""
    dp = spec.release.dp
    if dp is None:
        return
    n = math.ceil(24 / release_hours - 1e-9)
    if n * dp.epsilon > dp.daily_budget + 1e-9:
        fits = dp.daily_budget / dp.epsilon
        raise BudgetExceeded(
            f"policy {spec.id}: {n} releases a day at epsilon {dp.epsilon:g} spend "
            f"{n * dp.epsilon:g}, over its daily budget of {dp.daily_budget:g} (release_hours "
            f">= {24 / max(int(fits), 1):g} fits: {int(fits)} releases a day)"
        )


class Context:
    """What the measures of one evaluation share: the day, the policy, what it keeps (the
    frames), the face traces the analyst holds, and the rows written so far.

    The traces are what the policy stores of faces and what its retention leaves the
    analyst: never more days than the policy keeps (:func:`within_retention`)."""

    def __init__(
        self,
        day: LabDay,
        spec: PolicySpec,
        params: Params,
        seed: int,
        sightings: pd.DataFrame | None,
        timing: dict[str, float],
    ):
        self.day, self.spec, self.params, self.seed = day, spec, params, seed
        self.m = minimizer(spec)
        self.timing = timing
        self.rows: list[dict[str, Any]] = []
        self.residents = len(day.residents)
        self._sightings = sightings
        self.frames: dict[str, pd.DataFrame] = {}
        self.raw: dict[str, pd.DataFrame] = {}
        self.kept: list = []
        self.alert_scores: Callable[[], list[dict[str, Any]]] | None = None
        self.empty = pd.DataFrame()

    def put(self, metric: str, value: Any, **kw: Any) -> None:
        """One row (NaN or None: the metric does not apply)."""
        v = None if value is None or value != value else float(value)
        self.rows.append({"metric": metric, "value": v, **kw})

    @cached_property
    def view(self) -> FaceView:
        return face_view(self.m, self.day.cameras)

    @cached_property
    def listed(self) -> set[str]:
        """The residents on a watch list whose matches the policy keeps."""
        return {
            w["resident_id"] for w in self.day.watchlist if w["watchlist"] in self.view.watchlists
        }

    @cached_property
    def sightings(self) -> pd.DataFrame:
        """Every true camera pass of the span (person, camera, t_ms)."""
        s = self.day.sightings if self._sightings is None else self._sightings
        return s.rename(columns={"resident": "person", "ts_ms": "t_ms"})

    @cached_property
    def retention_days(self) -> float | None:
        """How many days of face captures the policy keeps (None: no limit)."""
        return retention_days(self.spec, "camera.face_match")

    @cached_property
    def held(self) -> pd.DataFrame:
        """The camera passes of the days the analyst can hold at once under the retention."""
        end = self.day.t1_ms if self._sightings is None else None  # the day's, or the span's
        return within_retention(self.sightings, self.retention_days, end)

    @cached_property
    def traces(self) -> pd.DataFrame:
        """The face captures the policy keeps, within its retention (see traces.py)."""
        capture = float(self.day.meta["params"].get("capture_rate", 0.7))
        return face_traces(
            self.held,
            self.day.cameras,
            self.view,
            h3_res=self.params.h3_res,
            bucket_min=self.params.time_bucket_min,
            listed=self.listed,
            capture_rate=capture,
            seed=self.seed,
        )


class _Replay:
    """The rules replayed on what the policy keeps, for the measures that read alerts.

    Their scores come from the day's cache if it has them; else, where the system forks,
    rules that read no kind in common are replayed apart in two forked processes while this
    one runs the attacks. A group that reads none of the kinds this process puts through
    the policy is forked at once and applies the policy to its kinds as the replay consumes
    them; a group that reads some (the gas rules) is forked once this process has applied
    the policy to its kinds and theirs in one pass (:meth:`keep`), and replays those kept
    events: no event goes through the policy twice. Elsewhere this process replays them on
    every kept event."""

    def __init__(
        self, ctx: Context, rules: list | None, mine: set[str], cache: bool, concurrent: bool
    ):
        self.ctx, self.mine, self.cache = ctx, mine, cache
        if rules is None:
            from services.rules.book import RuleBook

            rules = RuleBook().rules
        if ctx.params.alert_rules is not None:
            rules = [r for r in rules if r.id in ctx.params.alert_rules]
        self.rules = rules
        self.path = _alerts_path(ctx.day, ctx.spec, rules)
        self.scores: list[dict[str, Any]] | None = None
        self.late: list[list] = []  # rule groups that read a kind of ``mine``
        self.waits: list[Callable[[], list[dict[str, Any]]]] = []
        self.here = False  # whether this process replays the rules (on all the kept events)
        self.kept: list = []
        if cache and self.path.exists():
            self.scores = orjson.loads(self.path.read_bytes())
        elif concurrent and hasattr(os, "fork"):
            from services.rules.replay import _place_xy

            _place_xy()  # imported and built once here, not once in each child
            for g in _replay_groups(rules, ctx.m, ctx.day):
                if _rule_kinds(g, ctx.m) & mine:
                    self.late.append(g)
                else:
                    self.waits.append(forked(partial(self._replay, g)))
        else:
            self.here = True

    def _replay(self, group: list, kept: list | None = None) -> list[dict[str, Any]]:
        """The scores of ``group`` (in a forked child): on its kinds' events put through the
        policy as the replay takes them, or on ``kept``."""
        day, m = self.ctx.day, self.ctx.m
        kinds = _rule_kinds(group, m)
        if kept is None:
            theirs = iter_kept(day.events, m, kinds)
        else:
            theirs = ((i, k) for i, k in kept if k.kind in kinds)
        return alert_scores(theirs, day.truths, day.incidents, group, m)

    def keep(self) -> list:
        """The day's events of ``mine`` as the policy keeps them (of every kind if this
        process replays the rules), forking the late groups on the kept events of theirs."""
        day, m, mine = self.ctx.day, self.ctx.m, self.mine
        if self.here:
            self.kept = apply_policy(day.events, m)
            return self.kept
        if not self.late:
            return apply_policy(day.events, m, mine) if mine else []
        theirs = set().union(*(_rule_kinds(g, m) for g in self.late))
        both = apply_policy(day.events, m, mine | theirs)
        for g in self.late:
            self.waits.append(forked(partial(self._replay, g, both)))
        return [(i, k) for i, k in both if k.kind in mine]

    def results(self) -> list[dict[str, Any]]:
        """Every rule's scores, in the rule book's order (remembered in the day's cache)."""
        if self.scores is None:
            if self.here:
                day = self.ctx.day
                got = alert_scores(self.kept, day.truths, day.incidents, self.rules, self.ctx.m)
            else:
                got = self._gather()
            self.scores = got
            if self.cache:
                _remember(self.path, got)
        return self.scores

    def _gather(self) -> list[dict[str, Any]]:
        got, failed = [], None
        for w in self.waits:  # every child is waited for, even after one failed
            try:
                got += w()
            except RuntimeError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        order = {r.id: i for i, r in enumerate(self.rules)}
        return sorted(got, key=lambda s: order[s["rule"]])


@_collector_paused
def evaluate(
    day: LabDay,
    spec: PolicySpec,
    params: Params = Params(),
    metrics: tuple[str, ...] | None = None,
    seed: int = 0,
    rules: list | None = None,
    timing: dict[str, float] | None = None,
    sightings: pd.DataFrame | None = None,
    alert_cache: bool = True,
    concurrent: bool = True,
) -> list[dict[str, Any]]:
    """Every registered measure of ``metrics`` (default: all) for ``spec`` (with the
    overrides of ``params``) on ``day``; seconds spent per measure go into ``timing`` (kept
    out of the rows: they are not reproducible). ``sightings`` (resident, camera, ts_ms)
    replaces the day's own camera passes for the trace attacks (a longer span,
    :func:`services.lab.data.load_week`); ``alert_cache=False`` replays the rules even when
    the day's cache has their scores; ``concurrent`` replays them in two forked processes
    while the attacks run (one evaluation on two cores; a runner with a worker per core
    passes False).

    The inputs the asked measures declare are prepared first (the policy applied to the
    frame kinds, the rule replay started), then each measure runs in registration order.

    The cyclic garbage collector is paused meanwhile: the events, their kept copies and the
    frames are millions of objects that hold no cycles, and its passes over them cost more
    than the work itself (the policy step: 4.1 s with it, 1.7 s without; a forked child
    would also copy every page it visits); what the metrics leave in cycles is collected
    once it runs again."""
    spec = policy_with(spec, params)
    registry = measures()
    metrics = tuple(registry) if metrics is None else metrics
    unknown = set(metrics) - set(registry)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)} (known: {', '.join(registry)})")
    asked = [registry[g] for g in metrics_in_order(registry, metrics)]
    inputs: set[str] = set().union(*(ms.inputs for ms in asked))
    timing = timing if timing is not None else {}
    ctx = Context(day, spec, params, seed, sightings, timing)

    needs_kept = "kept" in inputs
    # a kind the policy keeps as sent is read as sent (the day's frames of it are the same)
    as_sent = plain_kinds(ctx.m) & FRAME_KINDS if needs_kept else set()
    mine = FRAME_KINDS - as_sent if needs_kept else set()  # what this process applies it to
    t_alerts = time.perf_counter()
    replay = _Replay(ctx, rules, mine, alert_cache, concurrent) if "alerts" in inputs else None

    t = time.perf_counter()
    if replay is not None:
        kept = replay.keep()
        ctx.alert_scores = replay.results
    else:
        kept = apply_policy(day.events, ctx.m, mine) if mine else []
    ctx.kept, ctx.frames = kept, kept_frames(kept, mine)
    ctx.frames.update({k: day.raw[k].copy() for k in as_sent if k in day.raw})
    ctx.raw = day.raw if needs_kept or (replay is not None and replay.here) else {}
    timing["policy_s"] = time.perf_counter() - t

    for ms in asked:
        t = time.perf_counter()
        ms.run(ctx)
        timing[f"{ms.group}_s"] = time.perf_counter() - t
    if replay is not None:
        timing["alerts_total_s"] = time.perf_counter() - t_alerts  # from the fork
    return ctx.rows


def metrics_in_order(registry: dict[str, Any], metrics: tuple[str, ...]) -> list[str]:
    """``metrics`` in the registry's order (the alerts' wait last)."""
    return [g for g in registry if g in metrics]


def alert_scores(*args: Any) -> list[dict[str, Any]]:
    from services.lab.utility import alert_scores as scores

    return scores(*args)
