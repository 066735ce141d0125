"""Soak: the pipeline at its highest sustainable rate for ``--minutes``, memory sampled.

The simulator (`aqkol simulate --speed max`, its own process; about 4,000 msg/s here, below
the ingest's ~10,000/s, so it sets the rate) publishes consecutive stretches of the seeded
town at QoS 1 through a private Mosquitto into `aqkol ingest` (its own processes) writing
SQLite, until the time is up; then the backlog drains. Every few seconds the resident memory
of the ingest's processes and of the broker, the events published and stored, what is in
flight between them (published - stored) and what the broker holds ($SYS) are sampled.

Written: ``<out>/soak.csv`` and ``<out>/soak.html`` (a Plotly figure, offline). Last line e.g.
``minutes=10 events=... rss_start_mb=... rss_end_mb=... lost=0 duplicated=0``.

    python benchmarks/soak.py [--minutes 10] [--every 5] [--out runs/soak]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from services.store.models import events  # noqa: E402
from tests.support import start_mosquitto, stop, wait_until  # noqa: E402

STRETCH_H = 2.0  # simulated hours per simulator run (about 36,000 events, ~10 s)
START = datetime.fromisoformat("2026-01-15T06:30:00+06:00")
MB = 1024 * 1024


def rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / MB


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


class Publisher(threading.Thread):
    """Consecutive simulator runs (each STRETCH_H simulated hours) until told to stop."""

    def __init__(self, env: dict[str, str], runs: Path):
        super().__init__(daemon=True)
        self.env, self.runs = env, runs
        self.run_ids: list[str] = []
        self.stopping = threading.Event()
        self.proc: subprocess.Popen | None = None

    def run(self) -> None:
        start = START
        while not self.stopping.is_set():
            run_id = f"soak-{len(self.run_ids):03d}"
            self.run_ids.append(run_id)
            cmd = [sys.executable, "-m", "services.cli", "simulate", "--seed", "1",
                   "--hours", str(STRETCH_H), "--speed", "max", "--run-id", run_id,
                   "--start", start.isoformat()]  # fmt: skip
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self.proc.wait()
            start += timedelta(hours=STRETCH_H)

    def published(self) -> int:
        return sum(count_lines(self.runs / r / "published.ids") for r in self.run_ids)


def broker_held(port: int) -> dict[str, float]:
    """A subscriber of Mosquitto's $SYS: messages it stores (for offline or slow clients)."""
    latest: dict[str, float] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"soak-sys-{uuid.uuid4().hex[:6]}")

    def on_message(_c, _u, msg):
        with contextlib.suppress(ValueError):
            latest[msg.topic.rsplit("/", 1)[-1]] = float(msg.payload)

    c.on_message = on_message
    c.on_connect = lambda cl, *a: cl.subscribe("$SYS/broker/store/messages/count")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return latest


def plot(rows: list[dict[str, float]], path: Path) -> None:
    """Memory and in-flight events over the soak, as an offline HTML figure."""
    from plotly.subplots import make_subplots

    t = [r["t_s"] / 60 for r in rows]
    titles = ("resident memory (MiB)", "events", "in flight")
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, subplot_titles=titles)
    fig.add_scatter(x=t, y=[r["rss_ingest_mb"] for r in rows], name="ingest (all processes)",
                    row=1, col=1)  # fmt: skip
    fig.add_scatter(x=t, y=[r["rss_broker_mb"] for r in rows], name="Mosquitto", row=1, col=1)
    fig.add_scatter(x=t, y=[r["published"] for r in rows], name="published", row=2, col=1)
    fig.add_scatter(x=t, y=[r["stored"] for r in rows], name="stored", row=2, col=1)
    fig.add_scatter(x=t, y=[r["in_flight"] for r in rows], name="published - stored", row=3, col=1)
    fig.add_scatter(x=t, y=[r["broker_held"] for r in rows], name="held by the broker",
                    row=3, col=1)  # fmt: skip
    fig.update_xaxes(title_text="minutes", row=3, col=1)
    fig.update_layout(title="Aqkol soak: simulator at max speed -> Mosquitto -> ingest -> SQLite",
                      height=900, template="plotly_white")  # fmt: skip
    fig.write_html(path, include_plotlyjs=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to publish")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "soak", help="CSV and plot here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, port = start_mosquitto(work)
        prefix = f"soak{uuid.uuid4().hex[:6]}/"
        db_url = f"sqlite:///{work / 'soak.db'}"
        env = {**os.environ, "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
               "AQKOL_MQTT_PREFIX": prefix, "AQKOL_DATABASE_URL": db_url,
               "AQKOL_RUNS_DIR": str(work), "AQKOL_VAR_DIR": str(work),
               "AQKOL_INGEST_CLIENT_ID": f"ingest-{prefix.strip('/')}"}  # fmt: skip
        ready = work / "ingest.ready"
        ingest = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "ingest", "--ready-file", str(ready)],
            env=env, stdout=open(work / "ingest.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        engine = create_engine(db_url)

        def stored() -> int:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(events)).scalar_one()

        rows: list[dict[str, float]] = []
        pub = Publisher(env, work)
        try:
            wait_until(ready.exists, 120, "the ingest to subscribe")
            held = broker_held(port)
            ingest_ps, broker_ps = psutil.Process(ingest.pid), psutil.Process(broker.pid)
            t0 = time.monotonic()
            pub.start()
            total_s = args.minutes * 60

            def sample() -> dict[str, float]:
                n_pub, n_stored = pub.published(), stored()
                row = {"t_s": round(time.monotonic() - t0, 1), "published": n_pub,
                       "stored": n_stored, "in_flight": max(0, n_pub - n_stored),
                       "broker_held": held.get("count", 0.0),
                       "rss_ingest_mb": round(rss_mb(ingest_ps), 1),
                       "rss_broker_mb": round(rss_mb(broker_ps), 1)}  # fmt: skip
                rows.append(row)
                return row

            columns = [TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn()]
            with Progress(*columns, TextColumn("{task.fields[status]}")) as bar:
                task = bar.add_task("soak", total=total_s, status="")
                while (elapsed := time.monotonic() - t0) < total_s:
                    if ingest.poll() is not None:
                        raise RuntimeError((work / "ingest.log").read_text()[-2000:])
                    r = sample()
                    bar.update(task, completed=elapsed, status=(
                        f"published {r['published']:,} stored {r['stored']:,} in flight "
                        f"{r['in_flight']:,} ingest {r['rss_ingest_mb']:.0f} MiB"))  # fmt: skip
                    time.sleep(args.every)
                pub.stopping.set()
                bar.update(task, status="the last stretch is published, then the drain")
                pub.join()
                expected = pub.published()
                wait_until(lambda: stored() >= expected, 600, "the drain", interval=1.0)
                sample()
            with engine.connect() as conn:
                ids = set(conn.execute(select(events.c.id)).scalars())
                dup = conn.execute(
                    text("SELECT count(*) - count(DISTINCT id) FROM events")
                ).scalar_one()
            published = set()
            for r in pub.run_ids:
                published.update((work / r / "published.ids").read_text().split())
            lost = len(published - ids)
        finally:
            pub.stopping.set()
            if pub.proc is not None and pub.proc.poll() is None:
                pub.proc.terminate()
            stop(ingest)
            stop(broker)
    csv_path, html_path = args.out / "soak.csv", args.out / "soak.html"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, html_path)
    # memory after warm-up (imports, caches, the first batches): the first sample past 30 s
    warm = next((r for r in rows if r["t_s"] >= 30), rows[0])
    during = [r for r in rows if r["t_s"] <= total_s]
    rate = during[-1]["stored"] / during[-1]["t_s"] if during[-1]["t_s"] else 0.0
    print(f"wrote {csv_path} and {html_path}")
    print(
        f"minutes={args.minutes:g} events={len(published)} stored_per_s={rate:.0f} "
        f"rss_start_mb={warm['rss_ingest_mb']:.0f} rss_end_mb={rows[-1]['rss_ingest_mb']:.0f} "
        f"rss_max_mb={max(r['rss_ingest_mb'] for r in rows):.0f} "
        f"max_in_flight={max(r['in_flight'] for r in rows):.0f} lost={lost} duplicated={dup}"
    )


if __name__ == "__main__":
    main()
