"""One policy evaluated on one lab day: every attack and every utility metric, as tidy rows.

A row is ``{"metric": ..., "value": ..., "points": p or None, "rule": id or None}``; the
runner adds the policy, seed, scenario and parameters.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial, wraps
from typing import Any, TypeVar

import h3
import numpy as np
import orjson
import pandas as pd

from services.geo import to_xy
from services.lab import noise
from services.lab.attacks.homework import home_work
from services.lab.attacks.linkage import linkage
from services.lab.attacks.occupancy import occupancy
from services.lab.attacks.tracking import tracking
from services.lab.attacks.trajectory import trajectory_attack
from services.lab.attacks.unicity import point_keys, unicity
from services.lab.data import LabDay
from services.lab.insulation import insulation_attendance
from services.lab.store import (
    apply_policy,
    cell_of_xy,
    face_view,
    iter_kept,
    kept_frames,
    minimizer,
    plain_kinds,
)
from services.lab.traces import face_traces
from services.lab.utility import alert_scores, heating_error, heatmap_error
from services.policy.release import town_cells
from services.policy.spec import DP, PolicySpec, Release

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTACKS = ("unicity", "tracking", "home_work", "occupancy", "linkage", "trajectory")
UTILITY = ("heatmap", "heating", "alerts", "insulation")
METRIC_GROUPS = ATTACKS + UTILITY
# every metric name a row can carry (tests/lab/test_runner.py checks the rows against it)
METRIC_NAMES = frozenset(
    [
        "unicity",
        "unicity_all",
        "traced_units",
        "tracking_followed",
        "tracking_places_median",
        "missing_person_recall",
    ]
    + [
        f"homework_{k}"
        for k in (
            "anonymity_median",
            "anonymity_unique",
            "home_inferred",
            "work_inferred",
            "pair_inferred",
            "identified",
        )
    ]
    + [
        f"occupancy_{k}"
        for k in ("accuracy", "f1", "f1_absent", "base_rate", "lift", "n", "applicable")
    ]
    + [
        f"linkage_{k}"
        for k in ("accounts_linked", "residents_linked", "persons_pinned", "pseudonymous_links")
    ]
    + [
        "trajectory_accuracy",
        "trajectory_recovered_80",
        "heatmap_mae",
        "heatmap_rel_error",
        "heatmap_suppressed",
        "heating_block_error",
        "heating_total_error",
    ]
    + [f"insulation_{k}" for k in ("gap_pp", "p", "found", "classes", "gap_true_pp")]
    + [
        f"alert_{k}"
        for k in ("precision", "recall", "f1", "minutes_to_detect", "alerts", "blinded")
    ]
)
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
    points: tuple[int, ...] = (1, 2, 4, 8)
    trajectory_people: int = 200
    alert_rules: tuple[str, ...] | None = None  # None: every starter rule


def policy_with(spec: PolicySpec, p: Params) -> PolicySpec:
    """The policy with the cell's overrides (salt, epsilon, k_min)."""
    upd: dict[str, Any] = {}
    if p.salt is not None:
        upd["pseudonym_salt"] = p.salt
    rel = spec.release
    if p.epsilon is not None or p.k_min is not None:
        dp = rel.dp
        if p.epsilon is not None:
            dp = DP(
                epsilon=p.epsilon,
                daily_budget=max(100.0 if dp is None else dp.daily_budget, p.epsilon),
            )
        upd["release"] = Release(k_min=p.k_min if p.k_min is not None else rel.k_min, dp=dp)
    return spec.model_copy(update=upd) if upd else spec


@lru_cache(maxsize=1)
def _town_xy() -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    from simulator.geography import build_town

    tm = build_town()
    homes = {
        tm.households.id(i): (float(tm.households.x[i]), float(tm.households.y[i]))
        for i in range(len(tm.households))
    }
    places = {p.id: (p.x, p.y) for p in tm.places}
    for s in tm.stops:
        places[s.id] = (s.x, s.y)
    return homes, places


def raw_ids(day: LabDay, kind: str) -> list[str]:
    """The ids of the day's events of ``kind`` as sent."""
    f = day.raw.get(kind)
    return [] if f is None else [day.events[i][0] for i in f["orig"]]


def presence(day: LabDay) -> pd.Series:
    """True presence per (meter, middle of each half hour): anyone of the household home."""
    st = day.stays[day.stays["kind"] == "home"].merge(
        day.residents[["id", "household"]], left_on="resident", right_on="id"
    )
    a, b = st["t_from_ms"].to_numpy(np.int64), st["t_to_ms"].to_numpy(np.int64)
    k_lo = -(-(a + HALF_HOUR_MS // 2) // HALF_HOUR_MS)
    k_hi = -(-(b + HALF_HOUR_MS // 2) // HALF_HOUR_MS)
    n = np.maximum(k_hi - k_lo, 0)
    hh = np.repeat(st["household"].to_numpy(), n)
    k = np.repeat(k_lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    meter = pd.Series(hh).str.replace("hh-", "gas-", regex=False).to_numpy()
    home = pd.DataFrame({"meter": meter, "mid": k * HALF_HOUR_MS - HALF_HOUR_MS // 2})
    return pd.Series(True, index=pd.MultiIndex.from_frame(home.drop_duplicates()))


def positions(day: LabDay, people: list[str], res: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly cell (index into the town grid) of each of ``people``, and the cells' xy (a
    street, stop or bus ride keeps the last place: the heatmap counts people at places)."""
    homes, places = _town_xy()
    grid = town_cells(res)
    index = {c: i for i, c in enumerate(grid)}
    steps = np.arange(day.t0_ms + 1_800_000, day.t1_ms, 3_600_000)
    hh = day.residents.set_index("id")["household"]
    st = day.stays[day.stays["resident"].isin(people)].sort_values(["resident", "t_from_ms"])
    out = np.zeros((len(people), len(steps)), np.int64)
    row_of = {pid: i for i, pid in enumerate(people)}
    for pid, g in st.groupby("resident", sort=True):
        i = row_of[pid]
        home = homes[hh[pid]]
        j = np.clip(np.searchsorted(g["t_from_ms"].to_numpy(), steps, side="right") - 1, 0, None)
        last = home
        for s, row in enumerate(j):
            kind, place = g["kind"].iat[row], g["place"].iat[row]
            xy = home if kind == "home" else places.get(place, last)
            last = xy
            out[i, s] = index.get(cell_of_xy(*xy, res), 0)
    xy = np.array([to_xy(*h3.cell_to_latlng(c)) for c in grid])
    return out, xy


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


@_collector_paused
def evaluate(
    day: LabDay,
    spec: PolicySpec,
    params: Params = Params(),
    metrics: tuple[str, ...] = METRIC_GROUPS,
    seed: int = 0,
    rules: list | None = None,
    timing: dict[str, float] | None = None,
    sightings: pd.DataFrame | None = None,
    alert_cache: bool = True,
    concurrent: bool = True,
) -> list[dict[str, Any]]:
    """Every metric of ``metrics`` for ``spec`` (with the overrides of ``params``) on ``day``;
    seconds spent per stage go into ``timing`` (kept out of the rows: they are not
    reproducible). ``sightings`` (resident, camera, ts_ms) replaces the day's own camera
    passes for the trace attacks (a longer span, :func:`services.lab.data.load_week`);
    ``alert_cache=False`` replays the rules even when the day's cache has their scores;
    ``concurrent`` replays them in two forked processes while the attacks run (one
    evaluation on two cores; a runner with a worker per core passes False).

    The cyclic garbage collector is paused meanwhile: the events, their kept copies and the
    frames are millions of objects that hold no cycles, and its passes over them cost more
    than the work itself (the policy step: 4.1 s with it, 1.7 s without; a forked child
    would also copy every page it visits); what the metrics leave in cycles is collected
    once it runs again."""
    spec = policy_with(spec, params)
    m = minimizer(spec)
    rows: list[dict[str, Any]] = []
    timing = timing if timing is not None else {}

    def put(metric: str, value: Any, **kw: Any) -> None:
        v = None if value is None or value != value else float(value)  # NaN: does not apply
        rows.append({"metric": metric, "value": v, **kw})

    scores: list[dict[str, Any]] | None = None
    waiting: Callable[[], list[dict[str, Any]]] | None = None
    replay_here = False  # whether this process replays the rules (on all the kept events)
    if "alerts" in metrics:
        t_alerts = time.perf_counter()
        if rules is None:
            from services.rules.book import RuleBook

            rules = RuleBook().rules
        if params.alert_rules is not None:
            rules = [r for r in rules if r.id in params.alert_rules]
        path = _alerts_path(day, spec, rules)
        if alert_cache and path.exists():
            scores = orjson.loads(path.read_bytes())
        elif concurrent and hasattr(os, "fork"):
            # forked before the policy step: each child applies the policy to the kinds its
            # rules read and replays them, while this process does the same for the kinds
            # the other metrics read (rules that read no kind in common do not meet: they
            # are replayed apart, in two processes)
            def replay(group: list) -> list[dict[str, Any]]:
                mine = iter_kept(day.events, m, _rule_kinds(group, m))  # as the replay takes them
                return alert_scores(mine, day.truths, day.incidents, group, m)

            waits = [forked(partial(replay, g)) for g in _replay_groups(rules, m, day)]
            order = {r.id: i for i, r in enumerate(rules)}

            def waiting() -> list[dict[str, Any]]:
                got, failed = [], None
                for w in waits:  # every child is waited for, even after one failed
                    try:
                        got += w()
                    except RuntimeError as exc:
                        failed = failed or exc
                if failed is not None:
                    raise failed
                return sorted(got, key=lambda s: order[s["rule"]])

        else:
            replay_here = True

    t = time.perf_counter()
    needs_kept = {"occupancy", "linkage", "heatmap", "heating", "insulation"} & set(metrics)
    # a kind the policy keeps as sent is read as sent (the day's frames of it are the same)
    as_sent = plain_kinds(m) & FRAME_KINDS if needs_kept else set()
    if replay_here:
        kept = apply_policy(day.events, m)
    else:
        kept = apply_policy(day.events, m, FRAME_KINDS - as_sent) if needs_kept else []
    frames = kept_frames(kept, FRAME_KINDS - as_sent)
    frames.update({k: day.raw[k].copy() for k in as_sent if k in day.raw})
    raw = day.raw if needs_kept or replay_here else {}
    timing["policy_s"] = time.perf_counter() - t
    empty = pd.DataFrame()
    residents = len(day.residents)

    t = time.perf_counter()
    view = face_view(m, day.cameras)
    sightings = (day.sightings if sightings is None else sightings).rename(
        columns={"resident": "person", "ts_ms": "t_ms"}
    )
    listed = {w["resident_id"] for w in day.watchlist if w["watchlist"] in view.watchlists}
    capture = float(day.meta["params"].get("capture_rate", 0.7))
    traces = face_traces(
        sightings,
        day.cameras,
        view,
        h3_res=params.h3_res,
        bucket_min=params.time_bucket_min,
        listed=listed,
        capture_rate=capture,
        seed=seed,
    )
    if "unicity" in metrics:
        key = point_keys(traces["loc"].to_numpy(), traces["tbin"].to_numpy())
        for p in params.points:
            u = unicity(traces["unit"].to_numpy(), key, p, seed=seed + p)
            put("unicity", u["unicity"], points=p)
            put("unicity_all", u["unique"] / residents if residents else 0.0, points=p)
            put("traced_units", u["eligible"], points=p)
    if "tracking" in metrics:
        tr = tracking(traces, residents)
        put("tracking_followed", tr["followed"])
        put("tracking_places_median", tr["places_median"])
    if "home_work" in metrics:
        res = params.h3_res or 9
        distinct = len(set(view.loc.values())) == len(day.cameras)
        if not distinct and view.h3_res is not None:
            res = min(res, view.h3_res)
        homes, places = _town_xy()
        cam_cell = {c.id: cell_of_xy(float(c.x), float(c.y), res) for c in day.cameras.itertuples()}
        r = day.residents.set_index("id")
        home = r["household"].map(lambda h: cell_of_xy(*homes[h], res))
        work = r["day_place"].map(lambda p: cell_of_xy(*places[p], res) if p in places else None)
        for k, v in home_work(traces, cam_cell, home, work).items():
            put(f"homework_{k}", v)
    timing["traces_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if "occupancy" in metrics:
        g = frames.get("gas.reading", empty)
        if not g.empty:
            src = raw["gas.reading"].set_index("orig")
            series = g["household"] if "household" in g else g["source"]
            t_ms = src.loc[g["orig"], "t_ms"].to_numpy(np.int64)
            end = t_ms // HALF_HOUR_MS * HALF_HOUR_MS
            readings = pd.DataFrame(
                {
                    "series": series.to_numpy(),
                    "meter": src.loc[g["orig"], "source"].to_numpy(),
                    "t_ms": end - HALF_HOUR_MS // 2,
                    "m3": g["m3"].to_numpy(),
                    "agg": g["agg"].to_numpy(),
                }
            )
        else:
            readings = pd.DataFrame({"series": [], "meter": [], "t_ms": [], "m3": [], "agg": []})
        allr = raw["gas.reading"]
        ends = allr["t_ms"].to_numpy(np.int64) // HALF_HOUR_MS * HALF_HOUR_MS - HALF_HOUR_MS // 2
        idx = pd.MultiIndex.from_arrays([allr["source"].to_numpy(), ends])
        pres = presence(day)
        present = pd.Series(idx.isin(pres.index), index=idx)
        present = present[~present.index.duplicated()]
        for k, v in occupancy(readings, present).items():
            put(f"occupancy_{k}", v)
    timing["occupancy_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if "linkage" in metrics:
        lk = linkage(
            [frames.get("payment.gas", empty), frames.get("gas.reading", empty)], day.households
        )
        for k, v in lk.items():
            put(f"linkage_{k}", v)
    t = time.perf_counter()
    if "trajectory" in metrics:
        rng = np.random.default_rng(seed)
        ids = sorted(day.residents["id"])
        people = sorted(
            rng.choice(ids, size=min(params.trajectory_people, len(ids)), replace=False).tolist()
        )
        true, xy = positions(day, people, 9)
        k_min, eps = spec.release.k_min, spec.release.dp.epsilon if spec.release.dp else None
        tj = trajectory_attack(
            true, xy, lambda c: np.nan_to_num(noise.release(c, k_min, eps, seed))
        )
        put("trajectory_accuracy", tj["accuracy"])
        put("trajectory_recovered_80", tj["recovered_80"])
    timing["trajectory_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if "heatmap" in metrics:
        eps = spec.release.dp.epsilon if spec.release.dp else None
        h = heatmap_error(
            raw.get("camera.crowd", empty),
            frames.get("camera.crowd", empty),
            spec.release.k_min,
            eps,
            9,
            seed,
        )
        for k, v in h.items():
            put(k, v)
    if "heating" in metrics:
        for k, v in heating_error(
            raw.get("gas.reading", empty), frames.get("gas.reading", empty)
        ).items():
            put(k, v)
    if "insulation" in metrics:
        att = [day.truths.get(eid, {}) for eid in raw_ids(day, "school.attendance")]
        for k, v in insulation_attendance(
            frames.get("school.attendance", empty),
            frames.get("gas.reading", empty),
            frames.get("env.reading", empty),
            att,
        ).items():
            put(k, v)
    timing["utility_s"] = time.perf_counter() - t
    if "alerts" in metrics:
        t = time.perf_counter()
        if scores is None:
            scores = (
                waiting()
                if waiting is not None
                else alert_scores(kept, day.truths, day.incidents, rules, m)
            )
            if alert_cache:
                _remember(path, scores)
        timing["alerts_wait_s"] = time.perf_counter() - t
        for s in scores:
            for k in ("precision", "recall", "f1", "minutes_to_detect", "alerts", "blinded"):
                put(f"alert_{k}", s[k], rule=s["rule"])
            if s["rule"] == "watchlist-missing" and s["recall"] is not None:
                put("missing_person_recall", s["recall"])
        timing["alerts_s"] = time.perf_counter() - t_alerts  # from the fork, before the policy
    return rows
