"""The disk fills up, or the database's filesystem is read-only: the ingest logs the cause,
acknowledges nothing it did not store, and once the fault is lifted stores every event
exactly once (Mosquitto, QoS 1, persistent session).

The faults are real: the SQLite file lives on a small tmpfs mounted for the test (this
needs root, as the tests run here and in CI), filled up with a file, or remounted
read-only.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from services.events.town import AQKOL_TZ
from services.ingest import Ingest
from services.store.db import migrate
from simulator.publisher import run as simulate
from tests.conftest import make_settings
from tests.support import missing, published_ids, stored_count, stored_ids, wait_until

START = datetime(2026, 1, 15, 8, 10, tzinfo=AQKOL_TZ)
DISK_MB = 24


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_MB MiB, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = _mount("-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk))
    if r.returncode != 0:
        missing(f"a tmpfs mount (needs root: {r.stderr.strip()})")
    try:
        yield disk
    finally:
        _mount("-o", "remount,rw", str(disk))
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; the file (delete it to free the space)."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    # unbuffered: a write the full disk refuses is not kept to be flushed again at close
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    with contextlib.suppress(OSError), open(disk / "crumbs", "wb", buffering=0) as f:
        while True:  # the last blocks
            f.write(b"\0" * 512)
    return filler


def _errors(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_disk_full_stores_nothing_unacknowledged_and_everything_once_after(
    small_disk, tmp_path, mosquitto_port, caplog
):
    caplog.set_level(logging.ERROR, logger="services.ingest.worker")
    db = f"sqlite:///{small_disk / 'aqkol.db'}"
    migrate(db)
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=db)
    first = Ingest(settings)
    first.start()
    second = None
    try:
        wait_until(first.ready.is_set, 30, "the ingest subscription")
        simulate(settings, seed=31, hours=0.05, speed=None, start=START, run_id="before")
        before = published_ids(settings.runs_dir, "before")
        wait_until(lambda: stored_count(db) == len(before), 60, "the first stretch")

        filler = _fill(small_disk)
        simulate(settings, seed=32, hours=0.3, speed=None, start=START, run_id="during")
        during = published_ids(settings.runs_dir, "during")
        wait_until(lambda: "database or disk is full" in _errors(caplog), 60, "the disk error")
        assert "stay unacknowledged" in _errors(caplog)
        stored_meanwhile = stored_count(db)
        assert stored_meanwhile < len(before) + len(during)
        # stop it while the disk is full: what it did not store, it did not acknowledge,
        # so the broker still holds it for the next ingest
        first.stop()
        filler.unlink()
        (small_disk / "crumbs").unlink()

        second = Ingest(settings)
        second.start()
        total = len(before) + len(during)
        wait_until(lambda: stored_count(db) >= total, 120, "the catch-up")
        ids = stored_ids(db)
        assert len(ids) == total and sorted(ids) == sorted(before + during)
        assert second.stats.stored == total - stored_meanwhile
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_read_only_database_is_not_subscribed_to_until_it_can_be_written(
    small_disk, tmp_path, mosquitto_port, caplog
):
    caplog.set_level(logging.ERROR, logger="services.ingest.worker")
    db = f"sqlite:///{small_disk / 'aqkol.db'}"
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=db)
    first = Ingest(settings)
    first.start()
    second = None
    try:
        wait_until(first.ready.is_set, 30, "the ingest subscription")
        simulate(settings, seed=33, hours=0.05, speed=None, start=START, run_id="before")
        before = published_ids(settings.runs_dir, "before")
        wait_until(lambda: stored_count(db) == len(before), 60, "the first stretch")
        first.stop()  # a restart: it comes back to a filesystem remounted read-only
        r = _mount("-o", "remount,ro", str(small_disk))
        assert r.returncode == 0, r.stderr
        simulate(settings, seed=34, hours=0.1, speed=None, start=START, run_id="during")
        during = published_ids(settings.runs_dir, "during")

        second = Ingest(settings)
        second.start()  # returns; the database is retried in the background
        wait_until(lambda: "not usable" in _errors(caplog), 30, "the database error")
        # SQLite's words depend on whether the last writer left its WAL file: it cannot be
        # opened (the -shm needs writing) or it opens and refuses the write probe
        errors = _errors(caplog)
        assert "unable to open database file" in errors or "readonly database" in errors
        assert not second.ready.is_set() and second.stats.received == 0

        r = _mount("-o", "remount,rw", str(small_disk))
        assert r.returncode == 0, r.stderr
        total = len(before) + len(during)
        wait_until(second.ready.is_set, 60, "the subscription once the database is writable")
        wait_until(lambda: stored_count(db) >= total, 120, "the catch-up")
        assert sorted(stored_ids(db)) == sorted(before + during)
    finally:
        first.stop()
        if second is not None:
            second.stop()
