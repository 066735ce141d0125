"""Two ingest workers on one MQTT 5 shared subscription (Mosquitto + PostgreSQL): one is
SIGKILLed mid-stream and started again with its client id; every event is stored once."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from services.classroom.link import SimulatorLink
from services.config import Settings
from services.events.town import AQKOL_TZ
from services.store.db import make_engine, migrate
from services.store.models import rule_status
from simulator.publisher import run as simulate
from tests.conftest import make_settings
from tests.services.test_faults import _env
from tests.support import published_ids, stop, stored_count, stored_ids, wait_until

START = datetime(2026, 1, 15, 7, 40, tzinfo=AQKOL_TZ)


def _worker(settings: Settings, workdir: Path, client_id: str, n: int) -> subprocess.Popen:
    """`aqkol ingest --share ingest` as its own process, returned once it is subscribed."""
    ready = workdir / f"{client_id}-{n}.ready"
    log_path = workdir / f"{client_id}-{n}.log"
    env = {**_env(settings), "AQKOL_INGEST_CLIENT_ID": client_id, "AQKOL_MQTT_PROTOCOL": "5"}
    cmd = [sys.executable, "-m", "services.cli", "ingest", "--share", "ingest"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--ready-file", str(ready)], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(log_path.read_text()[-2000:])
        return ready.exists()

    wait_until(up, 60, f"{client_id} to subscribe")
    return proc


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue  # gone meanwhile
        if fields.get("PPid", "").strip() == str(pid):
            out.add(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_two_workers_one_killed_and_restarted_store_every_event_exactly_once(
    tmp_path, mosquitto_port, postgres_url
):
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=postgres_url)
    migrate(postgres_url)
    a = _worker(settings, tmp_path, "ingest-a", 1)
    b = _worker(settings, tmp_path, "ingest-b", 1)
    # paced (half an hour in 30 s): the stream outlasts the kill and the pause however busy
    # the machine is; flat out, a starved ingest let the publisher finish first
    publisher = threading.Thread(
        target=simulate,
        args=(settings,),
        kwargs={"seed": 41, "hours": 0.5, "speed": 60, "start": START, "run_id": "share"},
    )
    publisher.start()
    link = SimulatorLink(settings)  # the classroom controls: the stream outlasts the kill
    try:
        wait_until(lambda: link.current(1), 30, "the simulator's control state")
        wait_until(lambda: stored_count(postgres_url) > 1500, 60, "the first events stored")
        writer = _children(a.pid)  # its writer process (multiprocessing spawn)
        assert writer
        a.send_signal(signal.SIGKILL)  # batches in flight, unacknowledged
        a.wait(10)
        paused = link.send({"command": "pause"}, wait_s=30)  # until a's writer is gone
        assert paused is not None and paused["state"] == "paused", paused
        # the writer does not outlive its worker, holding a database connection
        wait_until(lambda: not any(_alive(p) for p in writer), 15, "the orphaned writer to exit")
        after_kill = stored_count(postgres_url)
        assert link.send({"command": "resume"}, wait_s=30)["state"] == "running"
        # b keeps storing its share while a is away; the broker queues a's in a's session
        what = f"b storing alone (paused after {paused['published']} published)"
        wait_until(lambda: stored_count(postgres_url) > after_kill + 500, 60, what)
        a = _worker(settings, tmp_path, "ingest-a", 2)  # same client id: the same session
        publisher.join(120)
        assert not publisher.is_alive()
        published = published_ids(settings.runs_dir, "share")
        assert len(published) - paused["published"] > 2000  # half of them b stored alone
        wait_until(lambda: stored_count(postgres_url) >= len(published), 120, "every event stored")
        assert sorted(stored_ids(postgres_url)) == sorted(published)  # none lost, none twice

        # both run the rules; each writes its counts once the stream goes quiet
        def evaluated() -> dict[str, int]:
            engine = make_engine(postgres_url)
            with engine.connect() as conn:
                q = select(rule_status.c.worker, func.sum(rule_status.c.evaluations))
                out = {w: int(n) for w, n in conn.execute(q.group_by(rule_status.c.worker))}
            engine.dispose()
            return out

        def both() -> bool:
            seen.update(evaluated())
            return set(seen) == {"ingest-a", "ingest-b"} and all(seen.values())

        seen: dict[str, int] = {}
        wait_until(both, 30, "both workers' rule counts")
    finally:
        if publisher.is_alive():
            link.send({"command": "resume"})
        link.close()
        publisher.join(120)
        stop(a)
        stop(b)
