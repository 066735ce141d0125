"""Scale-out: one ingest worker against two on one MQTT 5 shared subscription, and a bare
paho subscriber, on the same seeded stream, in the same run (Mosquitto + PostgreSQL).

The held-stream method of ``ingest_throughput.py``: the simulator (its own process,
``--speed max``) publishes a seeded stretch of the town at QoS 1 into persistent sessions
whose subscribers are offline; then they connect and drain it as fast as they can.
  1. a bare paho subscriber (MQTT 5, QoS 1) that only counts ids: what the pipe carries;
  2. one ``aqkol ingest --share ingest`` process into a fresh PostgreSQL database;
  3. two of them (client ids of their own, one shared subscription) into another.
Ingest rates are the events stored over the span of their ``received_at`` (first batch
to last), so process start-up is not timed. Last line e.g.
``one_worker_per_s=... two_workers_per_s=... bare_per_s=... lost=0 duplicated=0``.

    python benchmarks/scale_out.py [--hours 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest_throughput import bare_phase, simulate  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from services.store.db import migrate, normalize_url  # noqa: E402
from services.store.models import events  # noqa: E402
from tests.support import PG_ADMIN_URL, start_mosquitto, stop, wait_until  # noqa: E402


def fresh_database() -> str:
    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"aqkol_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def workers_phase(
    n: int, env: dict[str, str], seed: int, hours: float, work: Path
) -> tuple[float, int, int, int]:
    """(events/s, stored, lost, duplicated) for ``n`` workers sharing one subscription."""
    db_url = fresh_database()
    migrate(db_url)
    prefix = f"w{n}{uuid.uuid4().hex[:6]}/"
    env = {**env, "AQKOL_DATABASE_URL": db_url, "AQKOL_MQTT_PREFIX": prefix}
    run_id = f"workers-{n}"

    def start(i: int) -> subprocess.Popen:
        ready = work / f"{run_id}-{i}.ready"
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "services.cli", "ingest", "--share", "ingest"]
        proc = subprocess.Popen(
            [*cmd, "--ready-file", str(ready)],
            env={**env, "AQKOL_INGEST_CLIENT_ID": f"ingest-{prefix.strip('/')}-{i}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(ready.exists, 90, f"worker {i} to subscribe")
        return proc

    for proc in [start(i) for i in range(n)]:  # the sessions, then offline
        stop(proc)
    simulate(env, seed, hours, run_id).wait()
    published = set((work / run_id / "published.ids").read_text().split())
    engine = create_engine(normalize_url(db_url))

    def stored() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()

    procs = [start(i) for i in range(n)]
    try:
        wait_until(lambda: stored() >= len(published), 600, "every event stored", interval=0.1)
        with engine.connect() as conn:
            ids = conn.execute(select(events.c.id)).scalars().all()
            first, last = conn.execute(
                select(func.min(events.c.received_at), func.max(events.c.received_at))
            ).one()
    finally:
        for p in procs:
            stop(p)
        engine.dispose()
        drop_database(db_url)
    span = (last - first).total_seconds()
    return len(ids) / span, len(ids), len(published - set(ids)), len(ids) - len(set(ids))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=3.0, help="simulated hours to publish")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, port = start_mosquitto(work)
        prefix = f"bare{uuid.uuid4().hex[:6]}/"
        env = {
            **os.environ,
            "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "AQKOL_MQTT_PROTOCOL": "5",
            "AQKOL_MQTT_PREFIX": prefix,
            "AQKOL_RUNS_DIR": str(work),
            "AQKOL_VAR_DIR": str(work),
        }
        try:
            bare, received, distinct, expected = bare_phase(
                port, prefix, env, args.seed, args.hours, work
            )
            print(f"bare paho:   {received:,} received at {bare:,.0f} msg/s")
            results = {}
            for n in (1, 2):
                rate, stored, lost, dup = workers_phase(n, env, args.seed, args.hours, work)
                results[n] = (rate, lost, dup)
                print(
                    f"{n} worker{'s' if n > 1 else ' '}:   {stored:,} stored at {rate:,.0f} "
                    f"events/s into PostgreSQL (lost {lost}, duplicated {dup})"
                )
        finally:
            stop(broker)
    lost = sum(r[1] for r in results.values()) + (expected - distinct)
    dup = sum(r[2] for r in results.values()) + (received - distinct)
    print(
        f"one_worker_per_s={results[1][0]:.0f} two_workers_per_s={results[2][0]:.0f} "
        f"bare_per_s={bare:.0f} ratio_two_to_one={results[2][0] / results[1][0]:.2f} "
        f"events={expected} lost={lost} duplicated={dup}"
    )


if __name__ == "__main__":
    main()
