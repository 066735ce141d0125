"""Real services for tests: brokers, databases, and waiting on conditions with a deadline.

In CI (CI=true) a missing Mosquitto, PostgreSQL or Chromium fails the run; elsewhere the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from services.store.db import make_engine
from services.store.models import events

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("AQKOL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def missing(what: str) -> None:
    """Fail in CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI (CI=true)", pytrace=False)
    pytest.skip(f"{what} not available here")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    def up() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(up, timeout, f"port {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_amqtt(log_path: Path) -> tuple[subprocess.Popen, int]:
    """The project's embedded broker, as its own process (as `aqkol broker` runs it)."""
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "broker", "--open", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_port(port, proc)
    return proc, port


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None
    )


def start_mosquitto(
    workdir: Path, port: int | None = None, persistence: bool = False
) -> tuple[subprocess.Popen, int]:
    """A private Mosquitto with the project's settings (on a free port unless given).

    With ``persistence`` it saves sessions and queued messages to ``workdir`` on shutdown
    and loads them on start, as a deployed broker does across a restart.
    """
    binary = mosquitto_binary()
    if binary is None:
        missing("Mosquitto (apt-get install mosquitto)")
    port = port or free_port()
    conf = workdir / "mosquitto.conf"
    persist = (
        f"persistence true\npersistence_location {workdir}/\n"
        if persistence
        else "persistence false\n"
    )
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        # run as ourselves: as root, Mosquitto would switch to the user 'mosquitto', which
        # may not write its log and persistence file in our scratch folder
        f"user {getpass.getuser()}\n"
        "allow_anonymous true\n"
        f"{persist}"
        # the default of 1000 queued messages per client silently drops QoS 1 beyond it
        "max_queued_messages 1000000\n"
        "max_inflight_messages 0\n"
        "message_size_limit 0\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port, proc)
    return proc, port


class TcpProxy:
    """A TCP forwarder whose link can be cut and restored: a database that goes away, for real.

    ``cut()`` closes every open connection and refuses new ones until ``restore()``.
    """

    def __init__(self, target_host: str, target_port: int):
        import threading

        self.target = (target_host, target_port)
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._up = True
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up = False
        with self._lock:
            for s in self._conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._conns.clear()

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self.cut()
        self._closed = True
        self._server.close()


def published_ids(runs_dir: Path, run_id: str) -> list[str]:
    """The ids a simulator run published, in order (its ``published.ids``)."""
    return (runs_dir / run_id / "published.ids").read_text().split()


def _fetch(db: str | Engine, query: Any, fetch: Callable[[Any], T]) -> T:
    engine = make_engine(db) if isinstance(db, str) else db
    try:
        with engine.connect() as conn:
            return fetch(conn.execute(query))
    finally:
        if isinstance(db, str):
            engine.dispose()


def stored_ids(db: str | Engine) -> list[str]:
    """Every event id in the store (a URL or an engine)."""
    return _fetch(db, select(events.c.id), lambda r: list(r.scalars()))


def stored_count(db: str | Engine) -> int:
    """How many events the store holds (a URL or an engine)."""
    return _fetch(db, select(func.count()).select_from(events), lambda r: r.scalar_one())
