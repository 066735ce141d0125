"""The simulator flat out against a bare paho publisher of the same payloads, same broker, same run.

A private Mosquitto; a counting subscriber (QoS 1, in this process) checks that every id
published arrives. Two publishers, each its own process, one after the other:
  1. a bare paho publisher (one process, one connection, QoS 1, at most 2,000 publishes in
     flight, as the simulator keeps per connection) sending payloads built beforehand: the
     seeded town's events of the same stretch, serialised before the clock starts;
  2. `aqkol simulate --speed max` (its own process): building the events as it goes.
Each rate is the publisher's own: events from its first connection to its last PUBACK.
Prints both rates, what the subscriber missed, the load; last line e.g.
`ratio=1.12 sim_per_s=... bare_per_s=... lost=0`.

    python benchmarks/publish_rate.py [--hours 4.0] [--seed 1] [--repeat 1]
    python benchmarks/publish_rate.py --edge-policy edge-counts  # the edge step on vs off

With ``--edge-policy`` each simulator run is made twice, the edge step off and then on
(``--edge-policy`` of ``aqkol simulate``), and the events the town made per second (sent,
or kept on the device) are compared: ``edge step ... on/off``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

from tests.support import start_mosquitto, stop, wait_until  # noqa: E402

INFLIGHT = 2000


def bare_publisher(path: str, port: int) -> None:
    """Child process: publish the prebuilt (topic, payload) lines, print the rate as JSON."""
    lines = Path(path).read_bytes().splitlines()
    msgs = [orjson.loads(line) for line in lines]
    msgs = [(m[0], m[1].encode()) for m in msgs]
    cond = threading.Condition()
    acked = [0]

    def on_publish(*_a) -> None:
        with cond:
            acked[0] += 1
            cond.notify_all()

    t0 = time.perf_counter()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bare-pub-{os.getpid()}")
    c.username_pw_set("bench")
    c.max_inflight_messages_set(INFLIGHT)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    sent = 0
    for topic, payload in msgs:
        with cond:
            while sent - acked[0] >= INFLIGHT:
                cond.wait(1)
        sent += 1
        c.publish(topic, payload, qos=1)
    with cond:
        while acked[0] < sent:
            cond.wait(1)
    seconds = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"published": sent, "seconds": seconds, "rate": sent / seconds}))


class Counter:
    """A subscriber that counts the ids arriving under a prefix."""

    def __init__(self, port: int, prefix: str):
        self.ids: list[bytes] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"count-{prefix}")
        self.c.username_pw_set("bench")
        self.c.on_message = self._on_message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.on_connect = lambda cl, *a: cl.subscribe(f"{prefix}aqkol/v1/#", qos=1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not subscribed.wait(60):  # a busy shared machine can be slow
            raise TimeoutError("the counting subscriber was not subscribed")

    def _on_message(self, _c, _u, msg) -> None:
        p = msg.payload
        i = p.find(b'"id":"') + 6
        self.ids.append(p[i : p.find(b'"', i)])

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def prebuilt(seed: int, hours: float, prefix: str, path: Path) -> list[str]:
    """Write the town's (topic, payload) lines for the bare publisher; return the ids."""
    from services.events import topic_for
    from simulator.model import Town

    ids = []
    with open(path, "wb") as f:
        for e in Town(seed=seed).events(hours):
            topic = topic_for(e["kind"], e["source"], prefix)
            f.write(orjson.dumps([topic, orjson.dumps(e).decode()]) + b"\n")
            ids.append(e["id"])
    return ids


def run_once(
    work: Path,
    port: int,
    seed: int,
    hours: float,
    n: int,
    senders_list: list[int | None],
    edge_policy: str | None = None,
) -> tuple[float, float, int]:
    # the bare publisher
    prefix = f"bare{uuid.uuid4().hex[:6]}/"
    data = work / f"payloads-{n}.jsonl"
    ids = prebuilt(seed, hours, prefix, data)
    counter = Counter(port, prefix)
    cpu0 = _children_cpu()
    out = subprocess.run(
        [sys.executable, __file__, "--bare-publisher", str(data), "--port", str(port)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    bare = json.loads(out.strip().splitlines()[-1])
    bare["cpu_us"] = (_children_cpu() - cpu0) / bare["published"] * 1e6
    wait_until(lambda: len(counter.ids) >= len(ids), 300, "the bare stream", interval=0.05)
    counter.close()
    lost_bare = len(set(ids) - {i.decode() for i in counter.ids})

    # the simulator, with each number of publishing processes asked for
    sims = []
    edges: list[str | None] = [None, edge_policy] if edge_policy else [None]
    by_edge: dict[str | None, float] = {}
    for senders, edge in ((s, e) for s in senders_list for e in edges):
        prefix = f"sim{uuid.uuid4().hex[:6]}/"
        counter = Counter(port, prefix)
        env = {
            **os.environ,
            "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "AQKOL_MQTT_PREFIX": prefix,
            "AQKOL_RUNS_DIR": str(work),
            "AQKOL_VAR_DIR": str(work),
        }
        run_id = f"sim-{n}-{senders}-{edge or 'off'}"
        cmd = [sys.executable, "-m", "services.cli", "simulate", "--seed", str(seed), "--hours",
               str(hours), "--speed", "max", "--run-id", run_id]  # fmt: skip
        if senders is not None:
            cmd += ["--senders", str(senders)]
        if edge is not None:  # the devices apply the policy's edge part before publishing
            cmd += ["--edge-policy", edge]
        cpu0 = _children_cpu()
        subprocess.run(
            cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        cpu_s = _children_cpu() - cpu0
        summary = json.loads((work / run_id / "run.json").read_text())["summary"]
        published = (work / run_id / "published.ids").read_text().split()
        wait_until(
            lambda c=counter, p=published: len(c.ids) >= len(p), 300, "the simulator's stream", 0.05
        )
        counter.close()
        lost = len(set(published) - {i.decode() for i in counter.ids})
        cpu_us = cpu_s / summary["published"] * 1e6  # the whole command: imports, town, truth
        sims.append((summary["rate"], lost))
        # events the town made per second (published, or kept on the device by the edge step)
        made = summary["published"] + summary.get("withheld_at_edge", 0)
        by_edge[edge] = made / summary["seconds"]
        print(
            f"run {n}: bare {bare['published']} in {bare['seconds']:.2f} s = "
            f"{bare['rate']:,.0f}/s ({bare['cpu_us']:.0f} us CPU each, lost {lost_bare}); "
            f"simulator --senders {senders} edge {edge or 'off'}: "
            f"{summary['published']} in {summary['seconds']:.2f} s "
            f"= {summary['rate']:,.0f}/s ({cpu_us:.0f} us CPU each, whole command; lost {lost}); "
            f"ratio {summary['rate'] / bare['rate']:.2f}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        if edge is not None:
            print(
                f"run {n}: edge step {edge} on/off, events made per second: "
                f"{by_edge[edge]:,.0f} / {by_edge[None]:,.0f} "
                f"= {by_edge[edge] / by_edge[None]:.2f}",
                flush=True,
            )
    return sims[-1][0], bare["rate"], lost_bare + sum(s[1] for s in sims)


def edge_step_cost(seed: int, hours: float, policy: str) -> tuple[float, float, int]:
    """(us per event with the edge step of ``policy``, us per event with none, events): the
    step alone, in this process, over the seeded town's events built beforehand."""
    from services.policy.active import PolicyBook
    from services.policy.edge import EdgeMinimizer
    from simulator.model import Town
    from simulator.publisher import minimize_at_edge

    evs = list(Town(seed=seed).events(hours))
    edge = EdgeMinimizer(PolicyBook().spec(policy))
    out = []
    for e in (edge, None, edge, None):  # interleaved, the best of two each
        t0 = time.perf_counter()
        for ev in evs:
            minimize_at_edge(ev, e)
        out.append((time.perf_counter() - t0) / len(evs) * 1e6)
    return min(out[0], out[2]), min(out[1], out[3]), len(evs)


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (and theirs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=4.0, help="simulated hours to publish")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs (each: bare, then simulator)")
    ap.add_argument(
        "--senders", type=int, nargs="*", help="simulate --senders values (last: the ratio)"
    )
    ap.add_argument(
        "--edge-policy",
        help="also run each simulator with this policy's edge step on (e.g. edge-counts)",
    )
    ap.add_argument("--bare-publisher", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_publisher:
        bare_publisher(args.bare_publisher, args.port)
        return
    if args.edge_policy:
        on, off, n = edge_step_cost(args.seed, args.hours, args.edge_policy)
        print(f"edge step {args.edge_policy} alone over {n} events: {on:.2f} us per event "
              f"(none: {off:.3f} us)", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, port = start_mosquitto(work)
        try:
            results = [
                run_once(
                    work, port, args.seed, args.hours, n, args.senders or [None], args.edge_policy
                )
                for n in range(args.repeat)
            ]
        finally:
            stop(broker)
    sim = sorted(r[0] for r in results)[len(results) // 2]
    bare = sorted(r[1] for r in results)[len(results) // 2]
    lost = sum(r[2] for r in results)
    print(f"ratio={sim / bare:.2f} sim_per_s={sim:.0f} bare_per_s={bare:.0f} lost={lost}")


if __name__ == "__main__":
    main()
