"""Aqkol's town against a common MQTT device simulator, DamascenoRafael/mqtt-simulator.

Its code is not part of this project: check it out anywhere and pass the folder
(``git clone https://github.com/DamascenoRafael/mqtt-simulator``; it runs with this
project's venv: paho-mqtt and pydantic). A private Mosquitto and a counting subscriber
(QoS 1) in this process; each publisher runs as its own process, one after the other:
  1. mqtt-simulator, one topic, no interval (TIME_INTERVAL 0), QoS 0;
  2. the same at QoS 1;
  3. mqtt-simulator asked to carry 3,000 devices at one message a second each
     ("multiple", ids 1-3000, TIME_INTERVAL 1, QoS 1: a thread and a connection per device);
  4. `aqkol simulate --speed max` (the whole town, QoS 1).
mqtt-simulator runs until stopped: it is given ``--seconds`` and then stopped. Each rate is
what the subscriber received per second between its first and last message.

    python benchmarks/mqtt_simulator_compare.py --checkout /tmp/mqtt-simulator \\
        [--seconds 20] [--hours 4]
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

import paho.mqtt.client as mqtt  # noqa: E402

from tests.support import start_mosquitto, stop, wait_until  # noqa: E402

DATA = [
    {
        "NAME": "temperature",
        "TYPE": "float",
        "MIN_VALUE": 20,
        "MAX_VALUE": 55,
        "MAX_STEP": 3,
        "RETAIN_PROBABILITY": 0.5,
        "INCREASE_PROBABILITY": 0.6,
    }
]


class Counter:
    """Counts messages under a topic filter, with the times of the first and the last."""

    def __init__(self, port: int, topic: str):
        self.n = 0
        self.first = self.last = 0.0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cmp-{uuid.uuid4().hex}")
        self.c.on_message = self._on_message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not subscribed.wait(60):
            raise TimeoutError("the counting subscriber was not subscribed")

    def _on_message(self, *_a) -> None:
        now = time.perf_counter()
        if not self.n:
            self.first = now
        self.last = now
        self.n += 1

    def rate(self) -> float:
        return self.n / (self.last - self.first) if self.n > 1 else 0.0

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def mqtt_simulator(checkout: Path, work: Path, port: int, topic: dict, seconds: float) -> Counter:
    prefix = f"cmp{uuid.uuid4().hex[:6]}"
    topic = {**topic, "PREFIX": f"{prefix}/{topic['PREFIX']}", "DATA": DATA}
    conf = work / f"{prefix}.json"
    conf.write_text(json.dumps({"BROKER_URL": "127.0.0.1", "BROKER_PORT": port, "TOPICS": [topic]}))
    counter = Counter(port, f"{prefix}/#")
    proc = subprocess.Popen(
        [sys.executable, str(checkout / "mqtt-simulator" / "main.py"), "-f", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(seconds)  # it runs until stopped: this is its measuring window
    finally:
        stop(proc)
    time.sleep(1.0)  # the last messages in flight
    counter.close()
    return counter


def aqkol(
    work: Path, port: int, hours: float, senders: int | None, root: Path = ROOT
) -> tuple[Counter, dict]:
    prefix = f"aq{uuid.uuid4().hex[:6]}/"
    counter = Counter(port, f"{prefix}aqkol/v1/#")
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "AQKOL_MQTT_PREFIX": prefix,
        "AQKOL_RUNS_DIR": str(work),
        "AQKOL_VAR_DIR": str(work),
    }
    run_id = f"aq-{uuid.uuid4().hex[:6]}"
    cmd = [sys.executable, "-m", "services.cli", "simulate", "--hours", str(hours), "--speed",
           "max", "--run-id", run_id]  # fmt: skip
    if senders is not None:
        cmd += ["--senders", str(senders)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, cwd=root, **quiet)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads((work / run_id / "run.json").read_text())["summary"]
    cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    summary["cpu_us"] = cpu / summary["published"] * 1e6  # the whole command, per event
    wait_until(lambda: counter.n >= summary["published"], 300, "the town's stream", 0.05)
    counter.close()
    return counter, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkout", type=Path, help="a mqtt-simulator checkout")
    ap.add_argument("--seconds", type=float, default=20.0, help="mqtt-simulator's window")
    ap.add_argument("--hours", type=float, default=4.0, help="simulated hours of the town")
    ap.add_argument("--senders", type=int, nargs="+", default=[0, 2], help="aqkol --senders")
    ap.add_argument("--skip-mqtt-simulator", action="store_true", help="only Aqkol's runs")
    ap.add_argument(
        "--old", type=Path, help="a checkout of Aqkol before issue 20, run too (same session)"
    )
    args = ap.parse_args()
    one = {"TYPE": "single", "PREFIX": "one", "TIME_INTERVAL": 0}
    many = {"TYPE": "multiple", "PREFIX": "dev", "RANGE_START": 1, "RANGE_END": 3000,
            "TIME_INTERVAL": 1, "QOS": 1}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, port = start_mosquitto(work)
        try:
            for name, topic in (
                ()
                if args.skip_mqtt_simulator
                else (
                    ("mqtt-simulator, one topic, no interval, QoS 0", {**one, "QOS": 0}),
                    ("mqtt-simulator, one topic, no interval, QoS 1", {**one, "QOS": 1}),
                    ("mqtt-simulator, 3,000 devices at 1 msg/s, QoS 1", many),
                )
            ):
                c = mqtt_simulator(args.checkout, work, port, topic, args.seconds)
                print(f"{name}: {c.n} received, {c.rate():,.0f} msg/s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
            if args.old is not None:
                c, summary = aqkol(work, port, args.hours, None, args.old)
                print(f"aqkol simulate --speed max, before issue 20: {c.n} received, "
                      f"{c.rate():,.0f} msg/s at the subscriber, {summary['rate']:,.0f}/s "
                      f"published, {summary['cpu_us']:.0f} us CPU per event "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
            for senders in args.senders:
                c, summary = aqkol(work, port, args.hours, senders)
                print(f"aqkol simulate --speed max --senders {senders}: {c.n} received, "
                      f"{c.rate():,.0f} msg/s at the subscriber, {summary['rate']:,.0f}/s "
                      f"published, {summary['cpu_us']:.0f} us CPU per event "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
        finally:
            stop(broker)


if __name__ == "__main__":
    main()
