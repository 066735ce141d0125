"""How long a teacher's "jump to" takes, on the parts a lesson runs on.

The embedded broker (amqtt, its own process), `aqkol ingest` writing to SQLite and
`aqkol simulate` at 60x (each its own process), as `aqkol up` runs them; then a jump of
``--jump-min`` simulated minutes through the API's own link (the command on the control
topic). Measures the wall time until the simulator reports the target time, and until the
store holds it (what the situation room shows), against the nominal fast-forward
(``JUMP_SPEED``, 300x). Last line e.g. `jump_min=60 sim_s=13.1 store_s=14.0 speed=275
nominal=300 ratio=0.92`.

    python benchmarks/classroom_jump.py [--jump-min 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.classroom.link import SimulatorLink  # noqa: E402
from services.config import Settings  # noqa: E402
from services.store import repo  # noqa: E402
from services.store.db import make_engine, migrate  # noqa: E402
from simulator.publisher import JUMP_SPEED  # noqa: E402
from tests.support import start_amqtt, stop, wait_until  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jump-min", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        broker, port = start_amqtt(tmp_path / "amqtt.log")
        db = f"sqlite:///{tmp_path / 'aqkol.db'}"
        migrate(db)
        env = {
            **os.environ,
            "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "AQKOL_DATABASE_URL": db,
            "AQKOL_VAR_DIR": str(tmp_path / "var"),
            "AQKOL_RUNS_DIR": str(tmp_path / "runs"),
            "AQKOL_MQTT_PROTOCOL": "3.1.1",
        }
        ready = tmp_path / "ingest.ready"
        cli = [sys.executable, "-m", "services.cli"]
        ingest = subprocess.Popen([*cli, "ingest", "--ready-file", str(ready)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        procs = [ingest]
        engine = make_engine(db)
        link = SimulatorLink(Settings(_env_file=None, mqtt_url=env["AQKOL_MQTT_URL"]))
        try:
            wait_until(ready.exists, 60, "the ingest")
            sim = subprocess.Popen([*cli, "simulate", "--seed", str(args.seed), "--speed", "60",
                                    "--hours", "24"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
            procs.append(sim)
            wait_until(lambda: (link.current(1) or {}).get("sim_time"), 120, "the town")
            now = datetime.fromisoformat(link.current()["sim_time"])
            target = now + timedelta(minutes=args.jump_min)
            t0 = time.monotonic()
            link.send({"command": "jump", "to": target.isoformat()})
            wait_until(
                lambda: datetime.fromisoformat(link.current()["sim_time"]) >= target,
                600, "the simulator at the target", interval=0.1,
            )  # fmt: skip
            sim_s = time.monotonic() - t0

            def stored() -> bool:
                with engine.connect() as conn:
                    newest = repo.sim_time(conn)
                return newest is not None and newest >= target - timedelta(seconds=60)

            wait_until(stored, 600, "the store at the target", interval=0.1)
            store_s = time.monotonic() - t0
            published = link.current()["published"]
        finally:
            link.close()
            for p in reversed(procs):
                stop(p)
            stop(broker)
            engine.dispose()
    speed = args.jump_min * 60 / sim_s
    print(
        f"jumped {args.jump_min:g} simulated minutes: simulator there in {sim_s:.1f} s, "
        f"store in {store_s:.1f} s ({speed:.0f}x; {published:,} events published in all)"
    )
    print(f"jump_min={args.jump_min:g} sim_s={sim_s:.1f} store_s={store_s:.1f} speed={speed:.0f} "
          f"nominal={JUMP_SPEED:.0f} ratio={speed / JUMP_SPEED:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
