"""Replay events through rules, as the ingest would, and judge the alerts against the truth.

Every event goes through the rule engine in time order, and the alerts go through the same
lifecycle code the ingest uses (into a throw-away SQLite file), so the alerts counted are
the alerts the live system would have opened. The API's rule preview replays the stored day
(:func:`replay_events`); the rules test bench (``aqkol rules test``,
:mod:`services.lab.rulebench`) replays a simulated one and scores it.

Where the events carry the simulator's ground truth, each alert is judged against it:

- where the event itself has a truth (a face match is true or false, a detected object is
  real or not), by that;
- otherwise by the scenario's incidents of the types the rule says it ``detects``: an alert
  is true if it starts while such an incident runs (or up to 30 minutes after) and, where
  the incident has a place, a meter or a watch-list entry, at or about it.

Reported: the alerts; precision (true alerts / alerts); recall (incidents detected /
incidents); time to detect; and who was stopped wrongly: the false face matches by sex and
age group.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.events.geo import to_xy
from services.events.townmap import town_map
from services.rules.alerts import apply_candidates, auto_clear
from services.rules.engine import Candidate, Event, RuleEngine
from services.rules.spec import CompiledRule
from services.store.db import make_engine
from services.store.models import alerts, metadata

GRACE = timedelta(minutes=30)
NEAR_M = 400.0
BATCH_S = 15.0  # seconds of event time: the ingest writes a batch about this often at demo speed


@dataclass
class Judged:
    alert: dict[str, Any]
    true: bool | None  # None: nothing in the truth to judge it by
    why: str
    incident: str | None = None


@dataclass
class RuleReport:
    rule: CompiledRule
    alerts: list[Judged] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)  # of the types it detects
    detected: dict[str, datetime] = field(default_factory=dict)  # incident id -> first alert
    false_matches: Counter[tuple[str, str]] = field(default_factory=Counter)
    innocent_people: set[str] = field(default_factory=set)
    matches: int = 0
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        judged = [j for j in self.alerts if j.true is not None]
        return sum(j.true for j in judged) / len(judged) if judged else None

    @property
    def recall(self) -> float | None:
        if not self.incidents:
            return None
        return len(self.detected) / len(self.incidents)

    def time_to_detect(self) -> dict[str, float]:
        """Minutes from each detected incident's start to its first true alert."""
        starts = {i["id"]: datetime.fromisoformat(i["start"]) for i in self.incidents}
        return {k: (t - starts[k]).total_seconds() / 60 for k, t in self.detected.items()}

    def summary(self) -> dict[str, Any]:
        ttd = list(self.time_to_detect().values())
        p, r = self.precision, self.recall
        return {
            "rule": self.rule.id,
            "misuse": self.rule.spec.misuse,
            "alerts": len(self.alerts),
            "true_alerts": sum(1 for j in self.alerts if j.true),
            "false_alerts": sum(1 for j in self.alerts if j.true is False),
            "precision": None if p is None else round(p, 3),
            "incidents": len(self.incidents),
            "detected": len(self.detected),
            "recall": None if r is None else round(r, 3),
            "median_minutes_to_detect": None if not ttd else round(sorted(ttd)[len(ttd) // 2], 1),
            "false_face_matches": sum(self.false_matches.values()),
            "innocent_people_matched": len(self.innocent_people),
            "state": self.status.get("state"),
            "errors": self.status.get("errors", 0),
        }


@dataclass
class ReplayResult:
    scenario: str
    seed: int
    start: datetime
    hours: float
    events: int
    reports: dict[str, RuleReport]
    incidents: list[dict[str, Any]]


def _place_xy() -> dict[str, tuple[float, float]]:
    return {p.id: (p.x, p.y) for p in town_map().places.values()}


def _markers(inc: dict[str, Any], places: dict[str, tuple[float, float]]) -> dict[str, Any]:
    params = inc.get("params") or {}
    m: dict[str, Any] = {}
    if inc.get("meter"):
        m["source"] = inc["meter"]
    if inc.get("enrollment_id"):
        m["key"] = inc["enrollment_id"]
    place = params.get("place")
    if place in places:
        m["xy"] = places[place]
    return m


def _judge_by_incident(
    a: dict[str, Any], incs: list[dict[str, Any]], places: dict[str, tuple[float, float]]
) -> tuple[bool, str, str | None]:
    t = a["first_seen"]
    for inc in incs:
        start = datetime.fromisoformat(inc["start"])
        end = datetime.fromisoformat(inc["end"])
        if not (start <= t <= end + GRACE):
            continue
        m = _markers(inc, places)
        if "source" in m and a["source"] != m["source"]:
            continue
        if "key" in m and a["dedup_key"] != m["key"]:
            continue
        if "xy" in m and "source" not in m and "key" not in m:
            if a.get("lat") is None:
                continue
            x, y = to_xy(a["lat"], a["lon"])
            if math.dist((x, y), m["xy"]) > NEAR_M:
                continue
        return True, f"during {inc['type']} ({inc['id']})", inc["id"]
    return False, "no incident of the kinds the rule detects at that time and place", None


def in_pseudonyms(incidents: list[dict[str, Any]], m: Any) -> list[dict[str, Any]]:
    """The incidents with the meter and watch-list entry they concern written as the policy
    ``m`` writes them (its pseudonym of the day the incident starts), so that an alert on the
    pseudonym of the right meter or entry is judged as finding it: the replay holds the key."""
    out = []
    for inc in incidents:
        inc = dict(inc)
        period = m.period(datetime.fromisoformat(inc["start"])) if inc.get("start") else None
        if period and inc.get("meter") and m.pseudonymized("gas.reading", "source"):
            inc["meter"] = m.pseudonym(inc["meter"], "source", period)
        eid = inc.get("enrollment_id")
        if period and eid and m.pseudonymized("camera.face_match", "data.enrollment_id"):
            inc["enrollment_id"] = m.pseudonym(eid, "enrollment_id", period)
        out.append(inc)
    return out


class _Collector:
    """Runs the lifecycle on a throw-away database, one batch per BATCH_S of event time."""

    def __init__(self, rules: list[CompiledRule], db_file: Path):
        # the alerts table as the models define it (the migrations' head): the lifecycle
        # reads and writes nothing else, and a throw-away file needs no migration history
        self.engine = make_engine(f"sqlite:///{db_file}")
        metadata.create_all(self.engine, tables=[alerts])
        self.pending: list[Candidate] = []
        self.batch_end: float | None = None  # Unix seconds
        self.quiet = {r.id: r.spec.clear_after_minutes for r in rules if r.spec.clear_after_minutes}
        self.meta = {r.id: (r.spec.purpose, r.spec.misuse) for r in rules}
        self.matches: list[Candidate] = []
        # last seen of each open alert of a rule with a quiet period, mirrored from what is
        # written: a flush with nothing pending and nothing due to clear skips the database
        self.open_last: dict[tuple[str, str], datetime] = {}

    def add(self, c: Candidate) -> None:
        self.matches.append(c)
        self.pending.append(c)

    def advance(self, now: datetime, t: float) -> None:
        """Event time is ``now`` (``t`` in Unix seconds): write a batch when one is due."""
        if self.batch_end is None:
            self.batch_end = t + BATCH_S
        if t >= self.batch_end:
            self.flush(now)
            self.batch_end = t + BATCH_S

    def _due(self, now: datetime) -> list[tuple[str, str]]:
        """The open alerts that ``auto_clear`` at ``now`` clears (last seen before the quiet
        period), from the mirror: the same test as its statement."""
        q = self.quiet
        return [k for k, t in self.open_last.items() if t < now - timedelta(minutes=q[k[0]])]

    def flush(self, now: datetime) -> None:
        if not self.pending and not self._due(now):
            return  # the statements would change nothing
        with self.engine.begin() as conn:
            if self.pending:
                apply_candidates(conn, self.pending, self.meta)
                for c in self.pending:
                    if c.rule in self.quiet:
                        key = (c.rule, c.dedup_key)
                        seen = self.open_last.get(key)
                        self.open_last[key] = c.ts if seen is None else max(seen, c.ts)
                self.pending = []
            due = self._due(now)
            if due:
                auto_clear(conn, self.quiet, now)
                for k in due:
                    del self.open_last[k]

    def alerts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).order_by(alerts.c.first_seen, alerts.c.id))
            return [dict(r._mapping) for r in rows]


def replay_events(
    rules: list[CompiledRule],
    events: Iterable[Event],
    incidents: Callable[[], list[dict[str, Any]]] | list[dict[str, Any]],
    policy: Any = None,
    workdir: Path | None = None,
) -> tuple[dict[str, RuleReport], int]:
    """Run ``events`` through ``rules`` and judge the alerts; returns reports and event count."""
    engine = RuleEngine(rules, policy)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        col = _Collector(rules, Path(tmp) / "replay.sqlite")
        n = 0
        last: datetime | None = None
        for ev in events:
            n += 1
            last = ev.ts
            for c in engine.process(ev):
                col.add(c)
            for c in engine.tick():
                col.add(c)
            col.advance(ev.ts, ev.t)
        if last is not None:
            col.flush(last)
        opened = col.alerts()
        col.engine.dispose()
    incs = incidents() if callable(incidents) else incidents
    if policy is not None:  # the alerts name meters and entries as the policy stores them
        incs = in_pseudonyms(incs, policy)
    places = _place_xy()
    # the first candidate of each alert carries the truth of the event that opened it
    first: dict[tuple[str, str, datetime], Candidate] = {}
    for c in col.matches:
        first.setdefault((c.rule, c.dedup_key, c.ts), c)
    reports: dict[str, RuleReport] = {}
    for st in engine.status():
        rule = next(r for r in rules if r.id == st["id"])
        detects = set(rule.spec.detects)
        rep = reports[rule.id] = RuleReport(rule, status=st)
        rep.incidents = [i for i in incs if i["type"] in detects]
    for c in col.matches:
        rep = reports[c.rule]
        rep.matches += 1
        tr = c.truth or {}
        if c.kind == "camera.face_match" and tr and not tr.get("true_match", True):
            rep.false_matches[(tr.get("sex", "?"), tr.get("age_group", "?"))] += 1
            rep.innocent_people.add(tr.get("resident", "?"))
    for a in opened:
        rep = reports[a["rule"]]
        c = first.get((a["rule"], a["dedup_key"], a["first_seen"]))
        tr = (c.truth if c else None) or {}
        if "true_match" in tr:
            ok = bool(tr["true_match"])
            why = (
                "a true match"
                if ok
                else (
                    f"a false match: {tr.get('resident')} ({tr.get('sex')}, {tr.get('age_group')})"
                )
            )
            j = Judged(a, ok, why)
            if ok:
                for inc in rep.incidents:
                    if inc.get("enrollment_id") == a["dedup_key"]:
                        j.incident = inc["id"]
        elif "true_object" in tr:
            ok = bool(tr["true_object"])
            j = Judged(a, ok, "a real object" if ok else f"a false detection ({tr.get('cause')})")
        elif rep.rule.spec.detects:
            ok, why, inc_id = _judge_by_incident(a, rep.incidents, places)
            j = Judged(a, ok, why, inc_id)
        else:
            j = Judged(a, None, "the rule names no incident type it detects")
        rep.alerts.append(j)
        if j.true and j.incident and j.incident not in rep.detected:
            rep.detected[j.incident] = a["first_seen"]
    return reports, n
