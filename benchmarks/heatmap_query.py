"""Latency of /heatmap over one and over seven simulated days of the whole town (PostgreSQL).

The seeded town's days (``normal-winter-day`` routine, from 15 January 2026 06:30) are
loaded into a fresh PostgreSQL database through the ingest's write path (decoded, the
``none`` policy, ``repo.insert_new_events`` in batches of 1000 with the heat rollups),
without MQTT and without alert rules, to keep the run short. After the first day and
after the seventh, the API (in process, through FastAPI's TestClient, with a logged-in
teacher) answers /heatmap for windows of an hour, a day and (at seven days) a week, each
ending at a random, unaligned moment of the data; p50 and p95 over ``--requests`` calls.
The same windows are then answered from the raw events (the query before the rollups) as
the baseline of the same run. Goal: p95 under 100 ms at seven days.
Last line e.g. ``p95_ms_1d=... p95_ms_7d=... raw_p95_ms_7d=... days=7 events=...``.

    python benchmarks/heatmap_query.py [--days 7] [--requests 40] [--seed 1] [--keep]
    python benchmarks/heatmap_query.py --reuse aqkol_bench_XXXX   # measure a kept database
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from rich.progress import Progress  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.api.main import create_app  # noqa: E402
from services.config import Settings  # noqa: E402
from services.events import decode, topic_for  # noqa: E402
from services.policy.apply import Minimizer  # noqa: E402
from services.policy.spec import KEEP_EVERYTHING  # noqa: E402
from services.store import repo  # noqa: E402
from services.store.db import make_engine, migrate, normalize_url  # noqa: E402
from simulator.clock import AQKOL_TZ  # noqa: E402
from simulator.model import Town  # noqa: E402
from tests.accounts import add_accounts, bearer, token_for  # noqa: E402
from tests.support import PG_ADMIN_URL  # noqa: E402

START = datetime(2026, 1, 15, 6, 30, tzinfo=AQKOL_TZ)


def load(url: str, seed: int, days: range, bar: Progress, task) -> int:
    """Store the town's ``days`` through the ingest's write path; how many events."""
    keep = Minimizer(KEEP_EVERYTHING, b"benchmark-key")
    engine = make_engine(url)
    batch: list[dict] = []
    n = 0

    def flush() -> None:
        with engine.begin() as conn:
            repo.insert_new_events(conn, batch)
        batch.clear()

    stream = (
        e for d in days for e in Town(seed=seed, start=START + timedelta(days=d)).events(24.0)
    )  # one town a day: a Town's events() always starts at its start
    for e in stream:
        ev = decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        k = keep.apply(ev)
        batch.append(repo.stored_row(*k[:7], repo.now_utc()))
        n += 1
        if len(batch) == 1000:
            flush()
            bar.update(task, advance=1000)
    if batch:
        flush()
    engine.dispose()
    return n


def latencies(client: TestClient, params: dict, ends: list[datetime]) -> list[float]:
    out = []
    for until in ends:
        t0 = time.perf_counter()
        r = client.get("/heatmap", params={**params, "until": until.isoformat()})
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
        assert r.json()["cells"], params
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(client, days: int, n: int, rng: random.Random, raw: bool) -> dict[str, tuple]:
    """p50/p95 per window kind over ``n`` requests (raw: the query without rollups)."""
    end = START + timedelta(days=days)
    windows = {"1h": 3600, "1d": 86400}
    if days >= 7:
        windows["7d"] = 7 * 86400
    out = {}
    for name, w in windows.items():
        lo = START + timedelta(seconds=w)  # a full window of data behind each end
        ends = [
            lo + timedelta(seconds=rng.uniform(0, max(1.0, (end - lo).total_seconds())))
            for _ in range(n)
        ]
        for kind in (None, "camera.crowd"):
            params = {"window_s": w, **({"kind": kind} if kind else {})}
            if raw:
                saved = repo.heat_cells
                repo.heat_cells = repo.cell_values
                try:
                    lat = latencies(client, params, ends[: max(3, n // 8)])
                finally:
                    repo.heat_cells = saved
            else:
                lat = latencies(client, params, ends)
            out[f"{name} {kind or 'all kinds'}"] = (p(lat, 50), p(lat, 95), len(lat))
    return out


def show(title: str, rows: dict[str, tuple]) -> None:
    print(title)
    for k, (p50, p95, n) in rows.items():
        print(f"  {k:22s} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   ({n} requests)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the loaded database")
    ap.add_argument("--reuse", help="a database kept by --keep: measure only")
    args = ap.parse_args()
    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = args.reuse or f"aqkol_bench_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    rng = random.Random(args.seed)
    results: dict[int, dict] = {}
    raw7: dict = {}
    try:
        migrate(url)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, database_url=url, var_dir=Path(tmp))
            app = create_app(settings)
            add_accounts(app.state.engine, ("teacher",))
            events = 0
            with TestClient(app) as client:
                client.headers.update(bearer(token_for(client, "teacher")))
                with Progress() as bar:
                    task = bar.add_task("loading day 1", total=430_000)
                    if not args.reuse:
                        events += load(url, args.seed, range(1), bar, task)
                with make_engine(url).connect() as c:
                    c.execute(text("ANALYZE"))
                if not args.reuse:
                    results[1] = measure(client, 1, args.requests, rng, raw=False)
                    show(f"after 1 day ({events:,} events)", results[1])
                if args.days > 1:
                    with Progress() as bar:
                        task = bar.add_task(
                            f"loading days 2-{args.days}", total=430_000 * (args.days - 1)
                        )
                        if not args.reuse:
                            events += load(url, args.seed, range(1, args.days), bar, task)
                    with make_engine(url).connect() as c:
                        c.execute(text("ANALYZE"))
                    results[args.days] = measure(client, args.days, args.requests, rng, False)
                    show(f"after {args.days} days ({events:,} events)", results[args.days])
                    raw7 = measure(client, args.days, args.requests, rng, raw=True)
                    show(f"the same from raw events (no rollups), {args.days} days", raw7)
    finally:
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    results.setdefault(1, results[max(results)])
    last = results[max(results)]
    worst = lambda rows, w: max(v[1] for k, v in rows.items() if k.startswith(w))  # noqa: E731
    wide = "7d" if "7d all kinds" in last else "1d"
    print(
        f"p95_ms_1d={worst(results[1], '1d'):.1f} p95_ms_{args.days}d={worst(last, wide):.1f} "
        f"raw_p95_ms_{args.days}d={worst(raw7, wide) if raw7 else float('nan'):.1f} "
        f"days={args.days} events={events}"
    )


if __name__ == "__main__":
    main()
