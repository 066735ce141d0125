"""The rules test bench (``aqkol rules test``): a simulated day replayed through rules, each
alert judged against the simulator's ground truth (:mod:`services.rules.replay` says how).

The town is simulated in-process (same seed and scenario, same events as ``aqkol simulate``
would publish) through the harness's one entry point, :func:`services.lab.day.simulate_day`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from services.events import event_models
from services.lab.day import simulate_day
from services.rules.engine import Event, RuleEngine
from services.rules.replay import ReplayResult, replay_events
from services.rules.spec import CompiledRule


def replay_scenario(
    rules: list[CompiledRule],
    scenario: str,
    seed: int = 1,
    hours: float | None = None,
    start: datetime | None = None,
    progress: Callable[[float], None] | None = None,
    policy: Any = None,
) -> ReplayResult:
    """Simulate ``scenario`` in-process and replay it through ``rules``.

    With ``policy`` (a :class:`services.policy.apply.Minimizer`), the events first go
    through it, as through the ingest: the rules see only what it keeps, and the rules it
    blinds raise nothing.
    """
    engine_probe = RuleEngine(rules, policy)
    kinds = set(engine_probe.by_kind) | engine_probe.context_kinds
    day = simulate_day(scenario, seed, start=start, hours=hours, kinds=kinds or None)
    truths, incidents = day.truths, day.incidents
    t0 = day.start.timestamp()

    models = event_models()

    def events() -> Iterable[Event]:
        for ev in day.events():
            tr = truths.pop(ev["id"], None)
            if policy is None:
                e = Event.from_dict(ev, tr)
            else:  # as the ingest would: validate, then keep what the policy keeps
                k = policy.apply(models[ev["kind"]].model_validate(ev))
                policy.take_escrow()
                if k is None:
                    continue
                e = Event.make(k.id, k.kind, k.source, k.ts, k.data, k.lat, k.lon, tr)
            if progress is not None:
                progress(e.t - t0)
            yield e

    reports, n = replay_events(rules, events(), lambda: incidents, policy)
    return ReplayResult(day.scenario.name, seed, day.start, day.hours, n, reports, incidents)


def write_outputs(result: ReplayResult, out: Path) -> list[Path]:
    """summary.csv, alerts.csv and false_matches.csv in ``out`` (the alert timeline is drawn
    by whoever presents it: `aqkol rules test` writes timeline.html)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    p = out / "summary.csv"
    rows = [r.summary() for r in result.reports.values()]
    with p.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["rule"])
        w.writeheader()
        w.writerows(rows)
    paths.append(p)
    p = out / "alerts.csv"
    cols = ["rule", "id", "dedup_key", "first_seen", "last_seen", "count", "state", "value"]
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*cols, "true", "why", "incident"])
        for rep in result.reports.values():
            for j in rep.alerts:
                a = j.alert
                w.writerow([*(a.get(c) for c in cols), j.true, j.why, j.incident])
    paths.append(p)
    p = out / "false_matches.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "sex", "age_group", "false_matches"])
        for rep in result.reports.values():
            for (sex, age), n in sorted(rep.false_matches.items()):
                w.writerow([rep.rule.id, sex, age, n])
    paths.append(p)
    return paths
