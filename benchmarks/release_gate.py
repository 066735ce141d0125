"""What the release gate (services/policy/audience.py) costs a page, in one run.

An hour of the protest (seed 2) is stored under ``gdpr-minimal`` in a SQLite file; the API
runs in process (FastAPI's TestClient). For each door the dashboard and the classroom use
(``/events?limit=1000``, ``/events/latest?kind=vehicle.position``, ``/alerts?limit=200``,
``/classroom/replay``), p50 of ``--requests`` calls as an analyst (operators: the gate
passes the answer through) and as a student (the public: filtered and stripped), and the
gate's own time on 1000 stored events. Last line e.g.
``events_analyst_ms=... events_student_ms=... gate_us_per_1000=...``.

    python benchmarks/release_gate.py [--requests 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from services.api.main import create_app  # noqa: E402
from services.config import Settings  # noqa: E402
from services.events import topic_for  # noqa: E402
from services.events.scenarios import load_scenario  # noqa: E402
from services.ingest import Ingest  # noqa: E402
from services.policy.active import POLICIES_DIR, PolicyBook, activate  # noqa: E402
from services.policy.audience import gate_for  # noqa: E402
from services.policy.spec import parse_policy  # noqa: E402
from services.store import repo  # noqa: E402
from services.store.db import migrate  # noqa: E402
from simulator.model import Town  # noqa: E402

DOORS = {
    "events": ("/events", {"limit": 1000}),
    "latest": ("/events/latest", {"kind": "vehicle.position"}),
    "alerts": ("/alerts", {"limit": 200}),
    "replay": ("/classroom/replay", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aqkol-gate-"))
    url = f"sqlite:///{tmp / 'aqkol.db'}"
    settings = Settings(_env_file=None, database_url=url, var_dir=tmp / "var",
                        mqtt_url="mqtt://127.0.0.1:1", mqtt_prefix="")  # fmt: skip
    migrate(url)
    ing = Ingest(settings)
    with ing.engine.begin() as conn:
        activate(conn, PolicyBook(POLICIES_DIR), "gdpr-minimal", by="benchmark")
    sc = load_scenario("protest")
    town = Town(seed=2, start=sc.start + timedelta(hours=5), scenario=sc)
    msgs = [(topic_for(e["kind"], e["source"]), orjson.dumps(e)) for e in town.events(1)]
    for i in range(0, len(msgs), 2000):
        ing.process(msgs[i : i + 2000])
    app = create_app(settings)
    from services.auth.users import add_user

    with app.state.engine.begin() as conn:
        for role in ("analyst", "student"):
            add_user(conn, role, role, f"{role}-bench-password", replace=True)
    client = TestClient(app)
    headers = {}
    for role in ("analyst", "student"):
        r = client.post(
            "/auth/token", data={"username": role, "password": f"{role}-bench-password"}
        )
        headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    figures: dict[str, float] = {}
    for door, (path, params) in DOORS.items():
        for role in ("analyst", "student"):
            times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = client.get(path, params=params, headers=headers[role])
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text[:200]
            figures[f"{door}_{role}_ms"] = statistics.median(times) * 1000
            print(f"{door:7} {role:8} p50 {figures[f'{door}_{role}_ms']:7.2f} ms")
    spec = parse_policy((POLICIES_DIR / "gdpr-minimal.yaml").read_text(), "gdpr-minimal.yaml")
    with app.state.engine.connect() as conn:
        evs = [repo.public_event(r) for r in repo.query_events(conn, limit=1000)]
    gate = gate_for("student", spec)
    t0 = time.perf_counter()
    for _ in range(20):
        gate.events(evs)
    figures["gate_us_per_1000"] = (time.perf_counter() - t0) / 20 * 1e6 * 1000 / len(evs)
    print(f"gate on {len(evs)} events: {figures['gate_us_per_1000']:.0f} us per 1000")
    for door in DOORS:
        ratio = figures[f"{door}_student_ms"] / figures[f"{door}_analyst_ms"]
        print(f"{door}: student / analyst = {ratio:.2f}")
    print(" ".join(f"{k}={v:.2f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
