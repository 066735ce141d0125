"""Privacy lab speed: unicity over a week of the whole town, and one policy evaluation.

1. Unicity: every face capture of 13,000 residents over seven simulated days (the week's
   camera passes straight from the day plans, recognition cameras only, 70% captured),
   as the `none` policy stores them (camera, hourly bucket, one identity all week); the
   share unique for p = 1, 2, 4 and 8 known points. Timed: the four unicity computations
   (the sightings are generated first and not timed).
2. A policy evaluation: `gdpr-minimal` on the cached normal winter day (seed 1, the whole
   town, 24 hours): the policy applied to every event, every registered measure (each
   attack with its no-data baseline, the re-linking attack, home/work for workers only,
   the trajectory attack on the released people layer) and every utility metric
   including the rule replay (replayed, not read from the lab's cache of alert
   scores), on two cores (the rules in two forked processes); the same evaluation in one
   process is the baseline, measured in the same run. The day is simulated once into the
   lab cache (`runs/lab-cache/`) and not timed: a sweep simulates each day once; loading
   it from the cache is timed apart.

Last line: `unicity_week_s=... policy_eval_day_s=...` (goals: under 1 s and under 5 s).

    python benchmarks/lab.py [--seed 1] [--policy gdpr-minimal]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

from services.lab.attacks.unicity import point_keys, unicity  # noqa: E402
from services.lab.data import DayKey, load_day, week_sightings  # noqa: E402
from services.lab.evaluate import Params, evaluate  # noqa: E402
from services.lab.store import face_view, minimizer  # noqa: E402
from services.lab.traces import face_traces  # noqa: E402
from services.policy.active import PolicyBook  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--policy", default="gdpr-minimal")
    ap.add_argument("--days", type=int, default=7)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    book = PolicyBook()

    t = time.perf_counter()
    s = week_sightings(a.seed, a.days)
    gen_s = time.perf_counter() - t
    cams = s.groupby("camera").first()[["x", "y", "face"]].reset_index()
    from simulator.geography import build_town

    tm = build_town()
    cameras = cams.assign(id=[tm.cameras[int(c)].id for c in cams["camera"]])
    s = s.assign(camera=[tm.cameras[int(c)].id for c in s["camera"]])
    view = face_view(minimizer(book.spec("none")), cameras)
    traces = face_traces(s, cameras, view, bucket_min=60, seed=a.seed)
    residents = s["person"].nunique()
    t = time.perf_counter()
    key = point_keys(traces["loc"].to_numpy(), traces["tbin"].to_numpy())
    unit = traces["unit"].to_numpy()
    res = {p: unicity(unit, key, p, seed=p) for p in (1, 2, 4, 8)}
    uni_s = time.perf_counter() - t
    print(
        f"week: {len(s):,} camera passes of {residents:,} residents over {a.days} days "
        f"(generated in {gen_s:.1f} s), {len(traces):,} face captures kept by `none`"
    )
    for p, r in res.items():
        print(f"  p={p}: unicity {r['unicity']:.3f} of {r['eligible']:,} people with >= {p} points")
    print(f"unicity for p = 1, 2, 4, 8: {uni_s:.2f} s (goal < 1 s)")

    t = time.perf_counter()
    day = load_day(DayKey(seed=a.seed))
    sim_or_load = time.perf_counter() - t
    t = time.perf_counter()
    _ = day.raw, day.residents, day.stays, day.sightings, day.households, day.cameras
    read_s = time.perf_counter() - t
    spec = book.spec(a.policy)
    timing: dict[str, float] = {}
    t = time.perf_counter()
    rows = evaluate(day, spec, Params(), seed=a.seed, timing=timing, alert_cache=False)
    eval_s = time.perf_counter() - t
    # the baseline, in the same run: the same evaluation in one process, one step after
    # the other (as each worker of a sweep on every core does it)
    serial: dict[str, float] = {}
    t = time.perf_counter()
    again = evaluate(
        day, spec, Params(), seed=a.seed, timing=serial, alert_cache=False, concurrent=False
    )
    serial_s = time.perf_counter() - t
    assert again == rows, "the serial evaluation gave other values"
    print(
        f"day: {len(day.events):,} events; cache load {sim_or_load:.1f} s "
        f"(a simulation when the cache was empty), truth and frames read {read_s:.1f} s"
    )
    print(
        f"evaluation of {a.policy}: {eval_s:.2f} s (goal < 5 s), {len(rows)} values; rules "
        "replayed in two forked processes while this one runs the attacks; "
        + ", ".join(f"{k} {v:.2f}" for k, v in timing.items())
    )
    print(
        f"  baseline, one process: {serial_s:.2f} s ("
        + ", ".join(f"{k} {v:.2f}" for k, v in serial.items())
        + f"); ratio {serial_s / eval_s:.2f}x"
    )
    print(
        f"unicity_week_s={uni_s:.2f} policy_eval_day_s={eval_s:.2f} "
        f"policy_eval_one_process_s={serial_s:.2f}"
    )


if __name__ == "__main__":
    main()
