"""A class on the situation room: N students and a teacher against a real `aqkol up`.

`aqkol up` (embedded broker with accounts, ingest, API, waitress dashboard, simulator at
60x) on free ports; `aqkol users add-class` makes the student accounts; each student (and
the teacher) logs in through the dashboard's own form and then calls the page's own
callbacks at the page's own rate, as a browser tab does: the situation room's refresh every
``dashboard_refresh_ms`` (sending back the number of the shared version it shows, as the
page's store does), and for the teacher also the classroom state line every 1.5 s. Starts
are spread over one refresh period. Latency is from request to the whole answer;
``bytes_per_refresh`` is the mean body of a refresh after the first load (``first_bytes``).
Last line e.g. ``students=30 p50_ms=... p95_ms=... errors=0 bytes_per_refresh=...``.

    python benchmarks/classroom_load.py [--students 30] [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support import free_port, stop, wait_until  # noqa: E402

REFRESH_MS = 2000  # the page's default (AQKOL_DASHBOARD_REFRESH_MS)
STATE_MS = 1500  # dashboard.classroom.STATE_MS
VALUES = {
    "situation-interval.n_intervals": 1,
    "situation-layer.value": "people",
    "situation-window.value": 3600,
    "classroom-replay.data": {"at": None, "playing": False},
    "classroom-interval.n_intervals": 1,
}


def _body(dep: dict, shown: int | None, n: int) -> dict:
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in dep["output"].strip(".").split("...")
    ]

    def value(item: dict) -> object:
        key = f"{item['id']}.{item['property']}"
        return n if key.endswith("n_intervals") else VALUES.get(key)

    return {
        "output": dep["output"],
        "outputs": outputs if "..." in dep["output"] else outputs[0],
        "inputs": [{**i, "value": value(i)} for i in dep["inputs"]],
        "state": [{**s, "value": shown} for s in dep.get("state", [])],
        "changedPropIds": [dep["inputs"][0]["id"] + "." + dep["inputs"][0]["property"]],
    }


def _log_in(dash: str, user: str, password: str) -> httpx.Client:
    """A browser's session: the login page's CSRF token, then the form."""
    client = httpx.Client(base_url=dash, timeout=30, follow_redirects=False)
    pages = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/login"},
                   {"id": "_pages_location", "property": "search", "value": ""}],
        "changedPropIds": ["_pages_location.pathname"], "state": [],
    }  # fmt: skip
    client.get("/login")
    text = client.post("/_dash-update-component", json=pages).text
    m = re.search(r'"id": ?"login-csrf"[^}]*?"value": ?"([^"]+)"', text) or re.search(
        r'"value": ?"([^"]+)"[^}]*?"id": ?"login-csrf"', text
    )
    if not m:
        raise SystemExit("the login page has no CSRF token")
    r = client.post("/auth/login", data={"username": user, "password": password, "next": "/",
                                         "csrf_token": m.group(1)})  # fmt: skip
    if r.status_code != 302 or "/login" in r.headers.get("location", ""):
        raise SystemExit(f"login of {user} refused: {r.headers.get('location')}")
    return client


class Viewer(threading.Thread):
    """One browser tab on the situation room, calling its callbacks at the page's rate."""

    def __init__(self, client: httpx.Client, deps: list[dict], end: float, period_s: float):
        super().__init__(daemon=True)
        self.client, self.deps, self.end, self.period_s = client, deps, end, period_s
        self.latencies: list[float] = []
        self.refresh_bytes: list[int] = []
        self.first_bytes = 0
        self.errors = 0
        self.asked = 0

    def run(self) -> None:
        refresh, *others = self.deps
        next_at = {id(d): time.monotonic() + random.uniform(0, self.period_s) for d in self.deps}
        periods = {id(refresh): self.period_s, **{id(d): STATE_MS / 1000 for d in others}}
        shown: int | None = None
        n = 0
        while True:
            dep = min(self.deps, key=lambda d: next_at[id(d)])
            wait = next_at[id(dep)] - time.monotonic()
            if next_at[id(dep)] > self.end:
                return
            if wait > 0:
                time.sleep(wait)
            next_at[id(dep)] += periods[id(dep)]
            n += 1
            self.asked += 1
            t0 = time.perf_counter()
            try:
                r = self.client.post("/_dash-update-component", json=_body(dep, shown, n))
                size = len(r.content)
                ok = r.status_code in (200, 204)
            except httpx.HTTPError:
                ok, size = False, 0
            self.latencies.append((time.perf_counter() - t0) * 1000)
            if not ok:
                self.errors += 1
                continue
            if dep is refresh:
                version = (r.json()["response"].get("situation-view-main") or {}).get("data")
                if shown is None:
                    self.first_bytes = size
                else:
                    self.refresh_bytes.append(size)
                shown = version if version is not None else shown


def _start(folder: Path) -> tuple[subprocess.Popen, str, str]:
    api, dash = free_port(), free_port()
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "AQKOL_API_PORT": str(api),
        "AQKOL_DASHBOARD_PORT": str(dash),
        "AQKOL_VAR_DIR": str(folder / "var"),
        "AQKOL_RUNS_DIR": str(folder / "runs"),
        "AQKOL_LAB_QUICK": "false",  # no background lab run here
    }
    env.pop("AQKOL_DATABASE_URL", None)
    env.pop("AQKOL_DASHBOARD_REFRESH_MS", None)
    with open(folder / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--embedded-broker", "--speed", "60"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{dash}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=120)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        proc, api, dash = _start(folder)
        env = {**os.environ, "AQKOL_VAR_DIR": str(folder / "var")}
        env.pop("AQKOL_DATABASE_URL", None)
        try:
            accounts = folder / "var" / "demo-accounts.json"

            def stored() -> bool:
                if proc.poll() is not None:
                    raise SystemExit((folder / "up.log").read_text()[-2000:])
                if not accounts.exists():
                    return False
                teacher = json.loads(accounts.read_text())["teacher"]["password"]
                try:
                    r = httpx.post(f"{api}/auth/token",
                                   data={"username": "teacher", "password": teacher})  # fmt: skip
                    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    return httpx.get(f"{api}/stats", headers=h).json()["events"] > 1000
                except (httpx.HTTPError, KeyError, ValueError):
                    return False

            wait_until(stored, 180, "the town to store its first events", interval=0.5)
            cards = folder / "cards.html"
            subprocess.run(
                [sys.executable, "-m", "services.cli", "users", "add-class", "--students",
                 str(args.students), "--out", str(cards), "--class-url", dash + "/"],
                env=env, check=True, capture_output=True, cwd=folder,
            )  # fmt: skip
            page = cards.read_text()
            users = re.findall(r'class="user">([^<]+)<.*?class="password">([^<]+)<', page, re.S)
            teacher = json.loads(accounts.read_text())["teacher"]["password"]
            clients = [_log_in(dash, u, p) for u, p in users]
            desk = _log_in(dash, "teacher", teacher)
            deps = clients[0].get("/_dash-dependencies").json()
            refresh = next(d for d in deps if "situation-map.figure" in d["output"])
            state = next(d for d in deps if "classroom-state.children" in d["output"])
            end = time.monotonic() + args.seconds
            period = REFRESH_MS / 1000
            viewers = [Viewer(c, [refresh], end, period) for c in clients]
            viewers.append(Viewer(desk, [refresh, state], end, period))
            load0 = os.getloadavg()[0]
            for v in viewers:
                v.start()
            for v in viewers:
                v.join()
            load1 = os.getloadavg()[0]
        finally:
            stop(proc)
    lat = sorted(x for v in viewers for x in v.latencies)
    sizes = [b for v in viewers for b in v.refresh_bytes]
    firsts = [v.first_bytes for v in viewers if v.first_bytes]
    errors = sum(v.errors for v in viewers)
    done = len(lat)
    p50 = statistics.median(lat)
    p95 = lat[int(0.95 * (done - 1))]
    per_refresh = statistics.mean(sizes) if sizes else 0
    first = statistics.mean(firsts) if firsts else 0
    print(
        f"viewers={len(viewers)} requests={done} achieved_per_s={done / args.seconds:.1f} "
        f"asked_per_s={(len(viewers) / period + 1 / (STATE_MS / 1000)):.1f} "
        f"first_bytes={first:.0f} ratio_refresh_to_first={per_refresh / first if first else 0:.3f} "
        f"loadavg_before={load0:.2f} loadavg_after={load1:.2f} cores={os.cpu_count()}"
    )
    print(
        f"students={args.students} p50_ms={p50:.0f} p95_ms={p95:.0f} errors={errors} "
        f"bytes_per_refresh={per_refresh:.0f}"
    )


if __name__ == "__main__":
    main()
