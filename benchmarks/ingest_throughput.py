"""Ingest throughput against a bare paho subscriber, on the same stream, in the same run.

The simulator (`aqkol simulate --speed max`, its own process) publishes a seeded stretch
of the town through a private Mosquitto at QoS 1 for each phase, each into a persistent session
whose subscriber is offline, so the broker holds the whole stream; then the subscriber
connects and drains it as fast as it can (the simulator alone publishes only ~4k msg/s
here, slower than either subscriber, so measuring while it publishes would time the
simulator):
  1. a bare paho subscriber that only counts (QoS 1, MQTT 5): the rate the pipe carries;
  2. `aqkol ingest` (its own process) writing to SQLite: the rate events are stored, with
     the starter rules and a policy in force (``--policy``, default ``gdpr-minimal``), from
     its first connection to the broker (its start before that is not timed; the bare
     subscriber is timed from its first message) until every event is stored;
  3. the bare subscriber again: the baseline is the mean of 1 and 3 (on a shared machine the
     load moves between phases). CPU per message of each process is printed too.
Prints the rates, the ratio, and what was lost or duplicated, last line e.g.
`ratio=0.83 stored_per_s=... bare_per_s=... lost=0 duplicated=0`.

    python benchmarks/ingest_throughput.py [--hours 4.0] [--seed 1]
    python benchmarks/ingest_throughput.py --policy edge-counts --against none  # the gate

With ``--against`` a second policy is measured in the same run (its own store, its own
simulator run); a policy with ``at: edge`` transforms has the simulator apply them, as a
switch to it does over the control topic. The stored rate of one against the other is
printed as ``policy_ratio``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from services.store.db import migrate  # noqa: E402
from services.store.models import events  # noqa: E402
from tests.support import start_mosquitto, stop, wait_until  # noqa: E402


def simulate(
    env: dict[str, str], seed: int, hours: float, run_id: str, edge: str | None = None
) -> subprocess.Popen:
    """`aqkol simulate` at full speed; with ``edge`` its devices apply that policy's edge
    part (what a switch to it tells them over the control topic)."""
    cmd = [
        sys.executable,
        "-m",
        "services.cli",
        "simulate",
        "--seed",
        str(seed),
        "--hours",
        str(hours),
        "--speed",
        "max",
        "--run-id",
        run_id,
        *(["--edge-policy", edge] if edge else []),
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bare_phase(
    port: int,
    prefix: str,
    env: dict[str, str],
    seed: int,
    hours: float,
    runs: Path,
    run_id: str = "bare",
) -> tuple[float, int, int, int, float]:
    """(rate, received, distinct, expected, CPU us per message) for a subscriber that only
    counts ids."""
    seen: list[bytes] = []
    first: list[float] = []
    last = [0.0]

    def on_message(_c, _u, msg):
        now = time.perf_counter()
        if not first:
            first.append(now)
        last[0] = now
        # slice the id out rather than decode: the bare subscriber must not do the ingest's work
        p = msg.payload
        i = p.find(b'"id":"') + 6
        seen.append(p[i : p.find(b'"', i)])

    def connect(callback) -> mqtt.Client:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"{run_id}-{prefix}", protocol=mqtt.MQTTv5
        )
        c.username_pw_set("bench")
        c.on_message = callback
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = 65535
        props.SessionExpiryInterval = 600
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_connect = lambda cl, *a: cl.subscribe(f"{prefix}aqkol/v1/#", qos=1)
        c.connect("127.0.0.1", port, clean_start=False, properties=props)
        c.loop_start()
        if not subscribed.wait(60):  # a busy shared machine can be slow
            raise TimeoutError("the bare subscriber was not subscribed")
        return c

    c = connect(None)  # creates the persistent session, then goes offline
    c.disconnect()
    c.loop_stop()
    simulate(env, seed, hours, run_id).wait()
    expected = len((runs / run_id / "published.ids").read_text().split())
    cpu0 = psutil.Process().cpu_times()
    c = connect(on_message)
    wait_until(lambda: len(seen) >= expected, 300, "the bare subscriber", interval=0.05)
    c.disconnect()
    c.loop_stop()
    cpu1 = psutil.Process().cpu_times()
    cpu_us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / len(seen) * 1e6
    rate = len(seen) / (last[0] - first[0])
    return rate, len(seen), len(set(seen)), expected, cpu_us


def _tree(pid: int) -> list[psutil.Process]:
    """The ingest's process and its children (the writer, the resource tracker)."""
    proc = psutil.Process(pid)
    kids = sorted(proc.children(recursive=True), key=lambda p: p.cmdline()[-1:])
    return [proc, *kids]


def _watch_connect(proc: subprocess.Popen, port: int, out: list[float]) -> None:
    """Append the time ``proc`` is first seen with a TCP connection to ``port``."""
    p = psutil.Process(proc.pid)
    deadline = time.perf_counter() + 120
    while proc.poll() is None and time.perf_counter() < deadline:
        try:
            conns = p.net_connections(kind="tcp")
        except psutil.Error:
            return
        if any(c.raddr and c.raddr.port == port for c in conns):
            out.append(time.perf_counter())
            return
        time.sleep(0.005)


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def kept_by_policy(seed: int, hours: float, policy: str) -> tuple[set[str], set[str]]:
    """Ids of the seeded stream's events that ``policy`` keeps as events (it drops e.g.
    payments), and the kinds it stores only summed per block (``aggregate``)."""
    from services.events import decode
    from services.policy.active import PolicyBook
    from services.policy.apply import Minimizer
    from simulator.model import Town

    minimizer = Minimizer(PolicyBook().spec(policy), b"bench")
    summed = {k for k, plan in minimizer.plans.items() if plan.aggregate is not None}
    kept = set()
    for e in Town(seed=seed).events(hours):
        k = minimizer.apply(decode(orjson.dumps(e)))
        if k is not None and not k.agg:
            kept.add(e["id"])
    return kept, summed


def ingest_phase(
    env: dict[str, str],
    seed: int,
    hours: float,
    runs: Path,
    db_url: str,
    policy: str,
    tag: str = "ingest",
    edge: bool = False,
) -> tuple[float, int, int, int, list[float]]:
    """(rate, stored, lost, duplicated, CPU us per event of each process) for `aqkol ingest`
    writing to SQLite, under ``policy`` (with ``edge``: the simulator applies its edge part)."""
    env = {**env, "AQKOL_POLICY": policy, "AQKOL_DATABASE_URL": db_url,
           "AQKOL_INGEST_CLIENT_ID": f"{env['AQKOL_INGEST_CLIENT_ID']}-{tag}"}  # fmt: skip
    ready = runs / f"{tag}.ready"

    port = int(env["AQKOL_MQTT_URL"].rsplit(":", 1)[1])

    def start_ingest(connected: list[float] | None = None) -> tuple[subprocess.Popen, float]:
        """The ingest, once subscribed, and how long it took from its start; ``connected``
        gets the time its first TCP connection to the broker was seen."""
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "services.cli", "ingest", "--ready-file", str(ready)]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if connected is not None:
            threading.Thread(target=_watch_connect, args=(proc, port, connected)).start()
        wait_until(ready.exists, 60, "the ingest to subscribe")
        return proc, time.perf_counter() - t

    # the first start creates the persistent session with nothing queued, then goes offline:
    # what it takes to start (imports, migration, connect) in time and CPU is taken off the
    # measured run, whose clock starts when a start like it could first receive (the broker
    # hands a held stream over right after the CONNACK, before the ingest says it is
    # subscribed: starting the clock at "subscribed" or at the first stored row flatters it)
    # the store is migrated first, so that the idle start is a start like the measured one:
    # creating the schema on the idle start made it slower and dearer (1-2 s and about 1 s
    # of CPU more under load), which moved the clock later and flattered the ingest
    migrate(db_url)
    first, startup_s = start_ingest()
    startup_cpu = [_cpu(p) for p in _tree(first.pid)]
    stop(first)
    simulate(env, seed, hours, tag, policy if edge else None).wait()
    sent = set((runs / tag / "published.ids").read_text().split())
    kept, summed = kept_by_policy(seed, hours, policy)
    published = sent & kept  # what the policy drops is not lost; sums are not events
    handled = len(published) + (len(sent) - len(sent & kept) if summed else 0)
    engine = create_engine(db_url)
    kept_kind = ~events.c.kind.in_(sorted(summed)) if summed else events.c.id.isnot(None)

    def stored() -> int:  # the events kept as such (block sums are rows of their own)
        with engine.connect() as conn:
            # the rows ever inserted (the largest rowid; nothing is deleted here) are at least
            # the events kept: the exact count, a scan of the table, is made only once they
            # could all be in, so that polling every 20 ms does not take a share of the CPU
            # from the ingest it times
            rows = conn.execute(text("SELECT coalesce(max(rowid), 0) FROM events")).scalar_one()
            if rows < len(published):
                return 0
            q = select(func.count()).select_from(events).where(kept_kind)
            return conn.execute(q).scalar_one()

    launched = time.perf_counter()
    connected: list[float] = []
    ing, _ = start_ingest(connected)
    # the clock starts when this start first connects to the broker (its protocol probe or
    # its session; nothing can be received before): on a busy machine one start takes
    # seconds longer than another (2.3-5.9 s seen), as much as the drain itself, so the idle
    # start's time, the estimate used before, moved the clock by seconds either way. That
    # estimate is still printed, and used if the connection was not seen.
    t_idle = launched + startup_s
    t0 = connected[0] if connected else t_idle
    print(
        f"ingest {policy}: idle start {startup_s:.2f} s, this start connected after "
        + (f"{connected[0] - launched:.2f} s" if connected else "(not seen)"),
        flush=True,
    )
    procs = _tree(ing.pid)
    try:
        wait_until(lambda: stored() >= len(published), 600, "every event stored", interval=0.02)
        t1 = time.perf_counter()
        cpu1 = [_cpu(p) for p in procs]
        with engine.connect() as conn:
            ids = conn.execute(select(events.c.id).where(kept_kind)).scalars().all()
            dup = conn.execute(
                text("SELECT count(*) - count(DISTINCT id) FROM events")
            ).scalar_one()
        lost = len(published - set(ids))
        n = max(handled, len(ids))  # events taken in (kept, or summed into a block)
        cpu_us = [(b - a) / n * 1e6 for a, b in zip(startup_cpu, cpu1, strict=False)]
        print(
            f"ingest {policy}: {n / (t1 - t_idle):,.0f} events/s by the idle start's clock",
            flush=True,
        )
        return n / (t1 - t0), n, lost, int(dup), cpu_us
    finally:
        stop(ing)


def ingest_all(
    args: argparse.Namespace, env: dict[str, str], work: Path, db_url: str
) -> dict[str, tuple[float, int, int]]:
    """Each policy's ingest phase (``--policy``, and ``--against``): rate, lost, duplicated."""
    runs = [(args.policy, db_url)]
    if args.against:
        runs.append((args.against, f"sqlite:///{work / 'against.db'}"))
    rates: dict[str, tuple[float, int, int]] = {}
    for i, (policy, url) in enumerate(runs):
        rate, stored, lost, dup, cpu = ingest_phase(
            env, args.seed, args.hours, work, url, policy, f"ingest{i}", edge=True
        )
        rates[policy] = (rate, lost, dup)
        print(
            f"ingest {policy}: {stored} stored at {rate:,.0f} events/s into SQLite, us "
            f"CPU per event: {' + '.join(f'{c:.0f}' for c in cpu)} (MQTT process + "
            f"writer), lost={lost} duplicated={dup}",
            flush=True,
        )
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=4.0, help="simulated hours to publish")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--policy", default="gdpr-minimal", help="the ingest's policy (the starter rules are on)"
    )
    ap.add_argument(
        "--against",
        help="a second policy (e.g. none) measured in the same run, each with its own store; "
        "a policy with 'at: edge' transforms has the simulator apply them (edge-counts)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, port = start_mosquitto(work)
        prefix = f"bench{uuid.uuid4().hex[:6]}/"
        db_url = f"sqlite:///{work / 'bench.db'}"
        env = {
            **os.environ,
            "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "AQKOL_MQTT_PREFIX": prefix,
            "AQKOL_DATABASE_URL": db_url,
            "AQKOL_RUNS_DIR": str(work),
            "AQKOL_VAR_DIR": str(work),
            "AQKOL_INGEST_CLIENT_ID": f"ingest-{prefix.strip('/')}",
            "AQKOL_POLICY": args.policy,
        }
        try:
            # the bare subscriber before and after the ingest, their mean the baseline: the
            # machine's load moves between phases, and one bare phase alone can be far off
            bares = []
            for run_id in ("bare-before", "bare-after"):
                if run_id == "bare-after":
                    rates = ingest_all(args, env, work, db_url)
                b_rate, received, distinct, expected, bare_cpu = bare_phase(
                    port, prefix, env, args.seed, args.hours, work, run_id
                )
                bares.append(b_rate)
                print(
                    f"bare ({run_id}): {received} received ({received - distinct} duplicated, "
                    f"{expected - distinct} lost) at {b_rate:,.0f} msg/s, "
                    f"{bare_cpu:.0f} us CPU per message",
                    flush=True,
                )
            bare_rate = sum(bares) / len(bares)
            rate, lost, dup = rates[args.policy]
            if args.against:
                r = rates[args.policy][0] / rates[args.against][0]
                print(f"policy_ratio={r:.2f} ({args.policy} / {args.against}, same run)")
            print(f"load average: {os.getloadavg()[0]:.2f} (the machine is shared)")
        finally:
            stop(broker)
    print(
        f"ratio={rate / bare_rate:.2f} stored_per_s={rate:.0f} bare_per_s={bare_rate:.0f} "
        f"lost={lost} duplicated={dup}"
    )


if __name__ == "__main__":
    main()
