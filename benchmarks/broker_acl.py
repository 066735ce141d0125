"""What the demo broker's accounts and topic ACL cost: amqtt open against amqtt with the
generated password file and ACL (checked in Python on every publish and every delivery),
the same stream, the same run.

One paho publisher (the simulator's account) sends N event-sized payloads at QoS 1 on
``aqkol/v1/env.reading/<source>`` while one subscriber (the ingest's account, QoS 1)
counts them; the rate is messages received per second, from the first publish to the last
receipt. Runs alternate (open, ACL, open, ACL, ...) and the best of each is kept. Last line
e.g. ``ratio=0.97 acl_per_s=... open_per_s=... lost=0``.

    python benchmarks/broker_acl.py [--messages 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
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

from services.mqtt_accounts import make_broker_accounts  # noqa: E402
from tests.support import free_port, stop, wait_port, wait_until  # noqa: E402

PAYLOAD = (
    b'{"schema":"aqkol.event/1","id":"01J0000000000000000000000%05d","kind":"env.reading",'
    b'"source":"env-0001","ts":"2026-01-15T07:30:00+06:00","geo":{"lat":52.0,"lon":70.9},'
    b'"data":{"temperature_c":-15.2,"pm25":12.0,"noise_db":41.0}}'
)


def _client(port: int, user: str, password: str | None) -> mqtt.Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    c.username_pw_set(user, password)
    c.max_inflight_messages_set(1000)
    return c


def one_run(acl: bool, n: int, folder: Path) -> tuple[float, int]:
    """(messages received per second, messages lost) through one amqtt."""
    port = free_port()
    cmd = [sys.executable, "-m", "services.cli", "broker", "--port", str(port)]
    passwords: dict[str, str | None] = {"simulator": None, "ingest": None}
    if acl:
        accounts = make_broker_accounts(folder)
        cmd += ["--password-file", str(accounts.password_file),
                "--acl-file", str(accounts.acl_file)]  # fmt: skip
        passwords = dict(accounts.passwords)
    else:
        cmd.append("--open")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        got = {"n": 0}
        done = threading.Event()
        sub = _client(port, "ingest", passwords["ingest"])
        subscribed = threading.Event()
        sub.on_connect = lambda c, *_a: c.subscribe("aqkol/v1/#", qos=1)
        sub.on_subscribe = lambda *_a: subscribed.set()

        def on_message(_c, _u, _m) -> None:
            got["n"] += 1
            if got["n"] >= n:
                done.set()

        sub.on_message = on_message
        sub.connect("127.0.0.1", port)
        sub.loop_start()
        assert subscribed.wait(15), "no SUBACK"
        pub = _client(port, "simulator", passwords["simulator"])
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        wait_until(pub.is_connected, 15, "the publisher")
        t0 = time.perf_counter()
        for i in range(n):
            pub.publish(f"aqkol/v1/env.reading/env-{i % 3000:04d}", PAYLOAD % i, qos=1)
        done.wait(300)
        seconds = time.perf_counter() - t0
        pub.loop_stop()
        sub.loop_stop()
        return got["n"] / seconds, n - got["n"]
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    best = {False: 0.0, True: 0.0}
    lost = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for acl in (False, True):
                rate, missing = one_run(acl, args.messages, Path(tmp) / f"{r}-{acl}")
                lost += missing
                best[acl] = max(best[acl], rate)
                print(f"round {r + 1} {'acl ' if acl else 'open'}: {rate:,.0f} msg/s, "
                      f"lost {missing}", flush=True)  # fmt: skip
    print(f"ratio={best[True] / best[False]:.2f} acl_per_s={best[True]:.0f} "
          f"open_per_s={best[False]:.0f} lost={lost}")  # fmt: skip


if __name__ == "__main__":
    main()
