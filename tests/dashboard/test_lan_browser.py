"""`aqkol up --lan`: a student's device logs in over the machine's network address.

A real `aqkol up --lan` (embedded broker with accounts, ingest, API, waitress dashboard,
simulator); `aqkol users add-class` makes the student accounts while it runs; headless
Chromium opens the class address printed by `up` (not 127.0.0.1) and logs in as a student,
then as the teacher, whose page shows the address and its QR code. And `up --lan` refuses a
broker that accepts anonymous clients.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.classroom.lan import LanError, lan_address
from tests.support import free_port, missing, start_amqtt, stop, wait_until
from tests.test_demo_browser import chromium_path, log_in

pytestmark = pytest.mark.browser


def _address() -> str:
    try:
        return lan_address()
    except LanError:
        missing("a network address besides 127.0.0.1")
        raise


def _env(folder: Path, mqtt_port: int, api: int, dash: int) -> dict[str, str]:
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "AQKOL_API_PORT": str(api),
        "AQKOL_DASHBOARD_PORT": str(dash),
        "AQKOL_DASHBOARD_REFRESH_MS": "1000",
        "AQKOL_VAR_DIR": str(folder / "var"),
        "AQKOL_RUNS_DIR": str(folder / "runs"),
        "AQKOL_LAB_QUICK": "false",  # no background lab run here
    }
    env.pop("AQKOL_DATABASE_URL", None)
    return env


def test_student_logs_in_over_the_class_address(tmp_path):
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    address = _address()
    api, dash = free_port(), free_port()
    env = _env(tmp_path, free_port(), api, dash)
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--lan", "--embedded-broker",
             "--speed", "60"],
            env={**env, "COLUMNS": "200"}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def announced() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(log_path.read_text()[-3000:])
            said = log_path.read_text()
            found = re.search(r"Class address\s+(http://\S+/)", said)
            return found.group(1) if found and "scan the code" in said else None

        url = wait_until(announced, 120, "up --lan to print the class address", interval=0.25)
        assert url == f"http://{address}:{dash}/"
        assert "▀" in log_path.read_text() or "█" in log_path.read_text()  # the QR code
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "users", "add-class", "--students", "2",
             "--class-url", url],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        cards = (tmp_path / "var" / "class-cards.html").read_text()
        assert url in cards
        password = re.search(r'class="password">([^<]+)<', cards).group(1)
        assert password not in done.stdout + done.stderr
        # the dashboard answers on the network address, with the production server
        r = httpx.get(f"{url}login", timeout=10)
        assert r.status_code == 200 and "werkzeug" not in r.headers.get("server", "").lower()
        teacher = json.loads((tmp_path / "var" / "demo-accounts.json").read_text())["teacher"]
        from playwright.sync_api import expect, sync_playwright

        requested: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            try:
                student = browser.new_page()
                student.on("request", lambda r: requested.append(r.url))
                log_in(student, url, "student01", password)
                expect(student.locator("#topbar-user")).to_contain_text("student01")
                expect(student.locator("#situation-map .main-svg").first).to_be_visible(
                    timeout=60_000
                )
                expect(student.locator("#classroom-qr")).to_have_count(0)  # teachers only
                assert requested and all(
                    r.startswith(url) or r.startswith(("data:", "blob:")) for r in requested
                ), [r for r in requested if not r.startswith(url)][:5]
                desk = browser.new_page()
                log_in(desk, url, "teacher", teacher["password"])
                expect(desk.locator("#classroom-url")).to_have_text(url, timeout=30_000)
                expect(desk.locator("#classroom-qr")).to_be_visible()
            finally:
                browser.close()
    finally:
        stop(proc)


def test_lan_refuses_a_broker_that_takes_anonymous_clients(tmp_path):
    _address()
    broker, port = start_amqtt(tmp_path / "broker.log")
    try:
        env = _env(tmp_path, port, free_port(), free_port())
        log_path = tmp_path / "up.log"
        with open(log_path, "wb") as log:
            up = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "up", "--lan", "--no-embedded-broker"],
                env={**env, "COLUMNS": "200"}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_until(lambda: up.poll() is not None, 120, "up --lan to refuse", interval=0.25)
        finally:
            stop(up)  # on a failure, up stops what it started
        said = log_path.read_text()
        assert up.returncode == 1, said[-2000:]
        assert "accepts clients without an account" in said
        assert "Class address" not in said  # nothing was served
    finally:
        stop(broker)
