"""The ingest's PostgreSQL write path: COPY + INSERT ... ON CONFLICT against executemany.

The seeded town's events (as the ingest stores them: ``repo.stored_row``) go in batches
of the ingest's size (``--batch``, default 1000, as AQKOL_INGEST_BATCH_SIZE) through
``repo.insert_new_events`` in one transaction each, heat rollups included, into a fresh
database per method; every fifth batch is sent a second time (a redelivery), which must
store and count nothing. Methods alternate over ``--rounds``; the figure is the median.
Last line e.g. ``copy_rows_per_s=... executemany_rows_per_s=... ratio=... duplicated=0``.

    python benchmarks/pg_write_path.py [--hours 2] [--batch 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from services.events import decode, topic_for  # noqa: E402
from services.store import repo  # noqa: E402
from services.store.db import make_engine, migrate  # noqa: E402
from services.store.models import events, heat_rollup  # noqa: E402
from simulator.clock import AQKOL_TZ  # noqa: E402
from simulator.model import Town  # noqa: E402
from tests.support import PG_ADMIN_URL  # noqa: E402


def rows_of_town(hours: float, seed: int) -> list[dict]:
    """The stored form of every event of ``hours`` of the town."""
    import orjson

    from services.policy.apply import Minimizer
    from services.policy.spec import KEEP_EVERYTHING

    keep = Minimizer(KEEP_EVERYTHING, b"benchmark-key")  # the `none` policy, as the ingest
    now = repo.now_utc()
    out = []
    start = datetime(2026, 1, 15, 6, 30, tzinfo=AQKOL_TZ)
    for e in Town(seed=seed, start=start).events(hours):
        ev = decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        k = keep.apply(ev)
        out.append(repo.stored_row(*k[:7], now))
    return out


def one(method: str, rows: list[dict], batch: int) -> tuple[float, int, int]:
    """(rows/s, stored, rolled-up events) for one method into a fresh database."""
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    name = f"aqkol_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(url)
        engine = make_engine(url)
        repo.PG_WRITE = method
        batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
        sent = 0
        t0 = time.perf_counter()
        for n, b in enumerate(batches):
            for _ in range(2 if n % 5 == 4 else 1):  # every fifth batch redelivered
                with engine.begin() as conn:
                    repo.insert_new_events(conn, b)
                sent += len(b)
        elapsed = time.perf_counter() - t0
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
            rolled = conn.execute(
                select(func.sum(heat_rollup.c.n)).where(heat_rollup.c.span_s == 300)
            ).scalar_one()
        engine.dispose()
        return sent / elapsed, stored, int(rolled or 0)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = rows_of_town(args.hours, args.seed)
    with_cell = sum(1 for r in rows if r["cell"] is not None)
    print(f"{len(rows):,} events ({with_cell:,} on the map), batches of {args.batch}")
    rates: dict[str, list[float]] = {"copy": [], "executemany": []}
    bad = 0
    for r in range(args.rounds):
        order = ["copy", "executemany"] if r % 2 == 0 else ["executemany", "copy"]
        for method in order:
            rate, stored, rolled = one(method, rows, args.batch)
            ok = stored == len(rows) and rolled == with_cell
            bad += 0 if ok else 1
            rates[method].append(rate)
            print(
                f"round {r + 1} {method:12s} {rate:9,.0f} rows/s  stored={stored:,} "
                f"rolled_up={rolled:,} {'ok' if ok else 'WRONG'}"
            )
    copy, many = (statistics.median(rates[m]) for m in ("copy", "executemany"))
    print(
        f"copy_rows_per_s={copy:.0f} executemany_rows_per_s={many:.0f} "
        f"ratio={copy / many:.2f} batch={args.batch} duplicated={bad}"
    )


if __name__ == "__main__":
    main()
