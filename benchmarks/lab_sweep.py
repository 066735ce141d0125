"""A lab sweep on one Dask worker process against two: the speed-up of the cluster.

The same small sweep (default: a tenth of the town over a day, the five shipped policies x
four seeds x two time buckets, 40 cells on four days, which two workers share evenly; every
attack and utility metric but the rule replay, which forks a process of its own and would
let one worker use two cores) runs twice through ``services.lab.runner.run``: on a
``LocalCluster`` of one worker process, then of two (one thread each). The days are
simulated first into a fresh lab cache, outside the clock, so both runs read the same
cached days (a sweep simulates each day once; that is not what is compared here). The
clock runs over ``run()``: cell ids, the sweep, the tables (the cluster is started and
each worker has imported the lab before: Python's start-up, the same for both; reading
the days from the cache is in, once per day per worker that gets a cell of it). Each run
writes into its own results folder; ``identical=1`` when both results.csv tables are equal.

Also printed: the seconds of each cell (from its file's timing) and the peak resident
memory of each worker process (a worker keeps one day in memory), the per-cell figures
that docs/scaling.md multiplies out.

Last line: ``workers_1_s=... workers_2_s=... speedup=... identical=1`` (goal on two cores:
a speed-up of at least 1.7); with ``--rounds N`` the runs alternate (one worker, two, one,
...) and the best time of each is kept: on a shared machine a neighbour's burst lands on
one run or another.

    python benchmarks/lab_sweep.py [--scale 0.1] [--hours 24] [--seeds 4] [--policies 5]
                                   [--rounds 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from services.lab.data import ensure_day  # noqa: E402
from services.lab.experiment import parse_experiment  # noqa: E402
from services.lab.runner import cluster, day_key, run, timings  # noqa: E402

POLICIES = ["none", "gdpr-minimal", "edge-counts", "eu-ai-act", "dp-heatmaps"]
METRICS = "[unicity, tracking, home_work, occupancy, linkage, trajectory, heatmap, heating]"


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (getrusage's maxrss would include the
    parent's peak, which a spawned worker inherits across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _warm() -> int:
    """Import the lab in a worker (its modules, its registered measures): Python's start-up,
    the same for any number of workers, is not what is compared."""
    import services.lab.evaluate  # noqa: F401
    from services.lab.registry import measures

    return len(measures())


def sweep(exp, n: int, out: Path, cache: Path) -> tuple[float, list[float]]:
    """Seconds of the sweep on a fresh LocalCluster of ``n`` processes; their peak RSS."""
    with cluster(workers=n) as client:
        client.wait_for_workers(n, timeout=300)
        client.run(_warm)
        t = time.perf_counter()
        run(exp, out=out, cache=cache, scheduler=client, plots=False)
        took = time.perf_counter() - t
        peaks = sorted(client.run(_peak_rss_mb).values())
    return took, peaks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1, help="population scale")
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--seeds", type=int, default=4, help="days: as many as seeds")
    ap.add_argument("--policies", type=int, default=5, help="the first N shipped policies")
    ap.add_argument(
        "--rounds", type=int, default=1, help="1 then 2 workers, N times; the best of each"
    )
    a = ap.parse_args()
    for name in ("distributed", "distributed.nanny", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)  # the clusters' closing chatter
    text = (
        "id: lab-sweep\ntitle: the lab_sweep benchmark\n"
        f"policies: [{', '.join(POLICIES[: a.policies])}]\n"
        f"seeds: [{', '.join(str(s) for s in range(1, a.seeds + 1))}]\n"
        f"hours: {a.hours}\npopulation_scale: {a.scale}\npoints: [1, 2, 4]\n"
        f"metrics: {METRICS}\ngrid:\n  time_bucket_min: [60, 15]\n"
    )
    exp = parse_experiment(text, "benchmarks/lab_sweep.py")
    cells = exp.cells()
    work = Path(tempfile.mkdtemp(prefix="lab-sweep-"))
    cache = work / "cache"
    try:
        t, cpu = time.perf_counter(), time.process_time()
        keys = {day_key(exp, c) for c in cells}
        for k in keys:
            ensure_day(k, cache)
        sim_s, sim_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(
            f"{len(cells)} cells ({a.policies} policies x {a.seeds} seeds x 2 time buckets, "
            "a town of scale "
            f"{a.scale} over {a.hours:g} h); {len(keys)} days simulated first in {sim_s:.1f} s, "
            f"{sim_cpu:.1f} s of CPU (not timed); peak memory {_peak_rss_mb():,.0f} MB; "
            f"{os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        results: dict[int, float] = {}
        for r, n in ((r, n) for r in range(a.rounds) for n in (1, 2)):
            out = work / f"w{n}"
            shutil.rmtree(out, ignore_errors=True)  # each round computes every cell
            took, peaks = sweep(exp, n, out, cache)
            per_cell = timings(out)
            wall, cpu = per_cell["total_s"], per_cell["cpu_s"]
            results[n] = min(took, results.get(n, took))
            print(
                f"  round {r + 1}, {n} worker process{'es' if n > 1 else ''}: {took:.1f} s; a cell "
                f"{wall.mean():.2f} s on average ({wall.min():.2f}-{wall.max():.2f}), "
                f"{cpu.mean():.2f} s of CPU; peak memory of each worker "
                + ", ".join(f"{p:,.0f} MB" for p in peaks)
            )
        same = pd.read_csv(work / "w1" / "results.csv").equals(
            pd.read_csv(work / "w2" / "results.csv")
        )
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(
            f"workers_1_s={results[1]:.1f} workers_2_s={results[2]:.1f} "
            f"speedup={results[1] / results[2]:.2f} identical={int(same)}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
