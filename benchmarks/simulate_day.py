"""One simulated day of the whole town, into a sink that only counts (no MQTT, no disk).

Builds the seeded town (about 13,000 residents) with the normal winter day scenario
(a January Thursday, from 06:30), generates 24 simulated hours of events with their ground
truth, and counts them by kind. Town building is timed apart from the day itself.
Prints seconds, events per day by kind and events/s; last line e.g.
``sim_day_s=2.9 cpu_s=2.9 events=425760 events_per_s=146000`` (``cpu_s``, the
process's CPU time, is steadier than wall time on a shared machine).

    python benchmarks/simulate_day.py [--seed 1] [--hours 24] [--scenario normal-winter-day]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.events.scenarios import load_scenario  # noqa: E402
from simulator.clock import AQKOL_TZ  # noqa: E402
from simulator.model import Town  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--scenario", default="normal-winter-day", help="a scenario name or path")
    args = ap.parse_args()

    t0 = time.perf_counter()
    scenario = load_scenario(args.scenario)
    start = scenario.start or datetime(2026, 1, 15, 6, 30, tzinfo=AQKOL_TZ)
    town = Town(seed=args.seed, start=start, scenario=scenario)
    build_s = time.perf_counter() - t0

    counts: Counter[str] = Counter()
    truth = 0

    def count_truth(_rec: dict) -> None:
        nonlocal truth
        truth += 1

    t1, c1 = time.perf_counter(), time.process_time()
    for event in town.events(args.hours, truth=count_truth):
        counts[event["kind"]] += 1
    day_s = time.perf_counter() - t1
    cpu_s = time.process_time() - c1  # steadier than wall time on a shared machine
    total = sum(counts.values())

    print(f"scenario: {scenario.name}, start {town.start.isoformat()}, seed {args.seed}")
    print(f"town: {len(town.population)} residents, {len(town.household_rows)} households")
    print(f"build town: {build_s:.2f} s")
    print(f"simulate {args.hours:g} h: {day_s:.2f} s ({args.hours * 3600 / day_s:,.0f}x real time)")
    print("events by kind:")
    for kind, n in sorted(counts.items()):
        print(f"  {kind:<20} {n:>9,}")
    print(f"  {'truth records':<20} {truth:>9,}")
    print(
        f"sim_day_s={day_s:.2f} cpu_s={cpu_s:.2f} events={total} events_per_s={total / day_s:.0f}"
    )


if __name__ == "__main__":
    main()
