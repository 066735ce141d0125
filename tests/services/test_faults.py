"""Faults the ingest survives without losing or duplicating an event (Mosquitto: QoS 1,
persistent session; acknowledgements only after the commit; idempotent writes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from services.config import Settings
from services.events.town import AQKOL_TZ
from services.ingest import Ingest
from services.store.db import migrate
from simulator.publisher import run as simulate
from tests.conftest import make_settings
from tests.support import (
    TcpProxy,
    published_ids,
    start_mosquitto,
    stop,
    stored_count,
    stored_ids,
    wait_until,
)

START = datetime(2026, 1, 15, 7, 40, tzinfo=AQKOL_TZ)


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "AQKOL_MQTT_URL": settings.mqtt_url,
        "AQKOL_DATABASE_URL": settings.effective_database_url,
        "AQKOL_MQTT_PREFIX": settings.mqtt_prefix,
        "AQKOL_INGEST_CLIENT_ID": settings.ingest_client_id,
        "AQKOL_VAR_DIR": str(settings.var_dir),
    }


def _start_ingest(settings: Settings, workdir: Path, name: str) -> subprocess.Popen:
    """`aqkol ingest` as its own process, returned once it is subscribed."""
    ready = workdir / f"{name}.ready"
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "ingest", "--ready-file", str(ready)],
        env=_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the writer process dies with it
    )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError((workdir / f"{name}.log").read_text()[-2000:])
        return ready.exists()

    wait_until(up, 60, f"{name} to subscribe")
    return proc


def test_ingest_killed_mid_stream_then_restarted_stores_every_event_once(
    tmp_path, mosquitto_port, sqlite_url
):
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url)
    migrate(sqlite_url)
    first = _start_ingest(settings, tmp_path, "ingest-1")
    publisher = threading.Thread(
        target=simulate,
        args=(settings,),
        kwargs={"seed": 21, "hours": 0.5, "speed": None, "start": START, "run_id": "kill"},
    )
    publisher.start()
    try:
        wait_until(lambda: stored_count(sqlite_url) > 1000, 60, "the first thousand events stored")

        def writing() -> bool:  # the count moves: a batch is being written right now
            n = stored_count(sqlite_url)
            time.sleep(0.02)
            return stored_count(sqlite_url) != n

        wait_until(writing, 30, "a batch being written")
        # SIGKILL the ingest and its writer process at once, mid-batch: the batch being
        # written is rolled back or committed but not acknowledged, and the queue behind it
        # is unacknowledged; the broker redelivers all of it
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = stored_count(sqlite_url)
        second = _start_ingest(settings, tmp_path, "ingest-2")
        publisher.join(120)
        assert not publisher.is_alive()
        published = published_ids(settings.runs_dir, "kill")
        wait_until(lambda: stored_count(sqlite_url) >= len(published), 120, "every event stored")
        ids = stored_ids(sqlite_url)
        assert len(ids) == len(published) and sorted(ids) == sorted(published)  # exact
        assert killed_at < len(published)  # the kill did land mid-stream
    finally:
        stop(first)
        if "second" in locals():
            stop(second)


def test_database_away_for_30_seconds_loses_nothing(tmp_path, mosquitto_port, postgres_url):
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    via_proxy = postgres_url.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    # a small bound, so that the stretch published during the outage outgrows it: the ingest
    # holds at most this many unacknowledged messages and the broker the rest
    bound = 500
    settings = make_settings(
        tmp_path, port=mosquitto_port, database_url=via_proxy, ingest_queue_size=bound
    )
    ingest = Ingest(settings)
    ingest.start()
    try:
        wait_until(ingest.ready.is_set, 30, "the ingest subscription")
        simulate(settings, seed=22, hours=0.1, speed=None, start=START, run_id="before")
        before = published_ids(settings.runs_dir, "before")
        first_stretch = len(before)
        wait_until(lambda: stored_count(postgres_url) == first_stretch, 60, "the first stretch")

        proxy.cut()
        outage_started = time.monotonic()
        simulate(settings, seed=23, hours=0.2, speed=None, start=START, run_id="during")
        during = published_ids(settings.runs_dir, "during")
        wait_until(lambda: ingest.stats.db_errors > 0, 30, "the ingest to notice the outage")
        # the fault lasts 30 seconds by definition; nothing may be written meanwhile
        time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
        assert stored_count(postgres_url) == len(before)
        # received counts its own alert announcements too (the ingest subscribes aqkol/v1/#)
        held_by_ingest = ingest.stats.received - len(before) - ingest.stats.alerts_opened
        assert 0 < held_by_ingest <= bound < len(during)  # buffered within the bound
        proxy.restore()

        total = len(before) + len(during)
        wait_until(lambda: stored_count(postgres_url) == total, 120, "the catch-up")
        assert sorted(stored_ids(postgres_url)) == sorted(before + during)
    finally:
        ingest.stop()
        proxy.close()


def test_broker_restart_mid_stream_loses_nothing(tmp_path, sqlite_url):
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker, port = start_mosquitto(broker_dir, persistence=True)
    settings = make_settings(tmp_path, port=port, database_url=sqlite_url)
    ingest = Ingest(settings)
    ingest.start()
    publisher = threading.Thread(
        target=simulate,
        args=(settings,),
        kwargs={"seed": 24, "hours": 0.5, "speed": None, "start": START, "run_id": "restart"},
    )
    try:
        wait_until(ingest.ready.is_set, 30, "the ingest subscription")
        publisher.start()
        wait_until(lambda: ingest.stats.stored > 1000, 60, "the first thousand events stored")
        stop(broker)  # SIGTERM: Mosquitto saves sessions and queued messages, then exits
        broker, _ = start_mosquitto(broker_dir, port=port, persistence=True)
        publisher.join(120)
        assert not publisher.is_alive()
        published = published_ids(settings.runs_dir, "restart")
        wait_until(lambda: stored_count(sqlite_url) >= len(published), 120, "every event stored")
        assert sorted(stored_ids(sqlite_url)) == sorted(published)
    finally:
        ingest.stop()
        stop(broker)


def test_a_committed_batch_is_acknowledged_and_never_redelivered(
    tmp_path, mosquitto_port, sqlite_url
):
    """The PUBACKs of a committed batch go out together (one write): the broker must take
    every one of them, so that a restarted ingest receives only what is new."""
    no_rules = tmp_path / "no-rules"  # no alerts: the ingest receives only the events
    no_rules.mkdir()
    settings = make_settings(
        tmp_path, port=mosquitto_port, database_url=sqlite_url, rules_dir=no_rules
    )
    first = Ingest(settings)
    first.start()
    try:
        wait_until(first.ready.is_set, 30, "the first ingest subscription")
        simulate(settings, seed=31, hours=0.1, speed=None, start=START, run_id="before")
        before = published_ids(settings.runs_dir, "before")
        wait_until(lambda: stored_count(sqlite_url) >= len(before), 60, "the first stretch")
        assert first.stats.received == len(before)
    finally:
        first.stop()
    second = Ingest(settings)  # same client id: the broker's persistent session
    second.start()
    try:
        wait_until(second.ready.is_set, 30, "the second ingest subscription")
        simulate(settings, seed=32, hours=0.02, speed=None, start=START, run_id="after")
        after = published_ids(settings.runs_dir, "after")
        total = len(set(before) | set(after))
        wait_until(lambda: stored_count(sqlite_url) >= total, 60, "the second stretch")
        assert second.stats.received == len(after)  # nothing of the first came again
        assert stored_count(sqlite_url) == total
    finally:
        second.stop()
