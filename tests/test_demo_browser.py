"""`aqkol up` (the demo) seen through headless Chromium: map, heatmap, buses and alerts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support import free_port, missing, stop, wait_until

LOCAL = re.compile(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|data:|blob:|about:)")


def chromium_path() -> str | None:
    return shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None
    )


def api_headers(api_url: str, user: str, password: str) -> dict[str, str]:
    """Log in on the API; the header that carries the token."""
    r = httpx.post(f"{api_url}/auth/token", data={"username": user, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def log_in(page, dash_url: str, user: str, password: str) -> None:
    """Fill in the dashboard's login form, and wait until it let the user in."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{dash_url}login")
    page.fill("#login-username", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    # the redirect committed, not the next page loaded (the caller waits for what it reads):
    # on a busy machine a cold dashboard's first page can take longer than its own deadline
    try:
        page.wait_for_url(lambda url: "/login" not in url, timeout=90_000, wait_until="commit")
    except PlaywrightTimeout:
        raise AssertionError(f"{user} was not logged in: the browser is at {page.url}") from None


def start_up(
    folder: Path, speed: str, extra: list[str] | None = None
) -> tuple[subprocess.Popen, int, int, IO[bytes]]:
    """`aqkol up` as a user starts it, on free ports, in ``folder``: process, API and
    dashboard ports, and its log (``folder/up.log``), which the caller closes."""
    mqtt, api, dash = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "AQKOL_MQTT_URL": f"mqtt://127.0.0.1:{mqtt}",
        "AQKOL_API_PORT": str(api),
        "AQKOL_DASHBOARD_PORT": str(dash),
        "AQKOL_DASHBOARD_REFRESH_MS": "1000",
        "AQKOL_VAR_DIR": str(folder / "var"),
        "AQKOL_RUNS_DIR": str(folder / "runs"),
        "AQKOL_LAB_QUICK": "false",  # no background lab run here
    }
    env.pop("AQKOL_DATABASE_URL", None)
    log = open(folder / "up.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--embedded-broker",
            "--speed",
            speed,
            *(extra or []),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, api, dash, log


@pytest.fixture
def demo(tmp_path: Path):
    """The demo as a user starts it, on free ports, in a scratch folder."""
    proc, api, dash, log = start_up(tmp_path, speed="300")

    accounts = tmp_path / "var" / "demo-accounts.json"
    headers: dict[str, str] = {}

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "up.log").read_text()[-3000:])
        try:
            if not headers:
                if not accounts.exists():
                    return False
                password = json.loads(accounts.read_text())["analyst"]["password"]
                headers.update(api_headers(f"http://127.0.0.1:{api}", "analyst", password))
            r = httpx.get(f"http://127.0.0.1:{api}/stats", headers=headers, timeout=1)
            return r.json()["events"] > 0
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        wait_until(ready, 90, "the demo to store its first events", interval=0.25)
        yield f"http://127.0.0.1:{dash}/", f"http://127.0.0.1:{api}", tmp_path / "up.log"
    finally:
        stop(proc)
        log.close()


def test_situation_room_shows_town_heatmap_buses_and_alerts(demo):
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    dash_url, api_url, log = demo
    accounts = json.loads((log.parent / "var" / "demo-accounts.json").read_text())
    up_log = log.read_text()
    assert all(a["password"] in up_log for a in accounts.values())  # `aqkol up` printed them
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("request", lambda r: None if LOCAL.match(r.url) else outside.append(r.url))
            page.goto(dash_url)  # not logged in: the login form first
            expect(page.locator("#login-form")).to_be_visible(timeout=30_000)
            log_in(page, dash_url, "analyst", accounts["analyst"]["password"])
            expect(page.locator("#topbar-user")).to_contain_text("analyst")
            expect(page.locator("#situation-map .main-svg").first).to_be_visible(timeout=60_000)
            # the town is drawn: lake, streets and buildings traces in the figure
            names = page.wait_for_function(
                """() => {
                    const g = document.querySelector('#situation-map .js-plotly-plot');
                    return g && g.data && g.data.length ? g.data.map(t => t.name || '') : null;
                }""",
                timeout=60_000,
            ).json_value()
            assert any("lake" in n.lower() for n in names), names
            # a non-empty heatmap, then at least one bus on the map
            page.wait_for_function(
                """() => {
                    const g = document.querySelector('#situation-map .js-plotly-plot');
                    return g && g.data.some(t => (t.name || '').startsWith('heatmap')
                                                 && (t.x || []).filter(v => v !== null).length > 0);
                }""",
                timeout=60_000,
            )
            page.wait_for_function(
                """() => {
                    const g = document.querySelector('#situation-map .js-plotly-plot');
                    return g && g.data.some(
                        t => /bus/i.test(t.name || '') && (t.x || []).length > 0);
                }""",
                timeout=60_000,
            )
            expect(page.locator("#alerts-feed .alert-item").first).to_be_visible(timeout=90_000)
            assert int(page.locator("#kpi-events").inner_text().replace(",", "").split()[0]) > 0
            page.screenshot(path=str(log.parent / "situation-room.png"))
            page.goto(f"{dash_url}rules")  # the Rules page lists the starter rules
            expect(page.locator("#rules-list")).to_contain_text("large-group", timeout=30_000)
            # the auditor reads the audit log (the analyst's queries are in it) and the register
            page.goto(f"{dash_url}auth/logout")
            log_in(page, dash_url, "auditor", accounts["auditor"]["password"])
            page.goto(f"{dash_url}transparency")
            expect(page.locator("#transparency-chain")).to_contain_text(
                "Chain intact", timeout=30_000
            )
            expect(page.locator("#transparency-audit")).to_contain_text("analyst")
            expect(page.locator("#transparency-register")).to_contain_text("gas meters")
            page.screenshot(path=str(log.parent / "transparency.png"))
        finally:
            browser.close()
    assert outside == [], f"the page asked for outside addresses: {outside[:5]}"
    assert httpx.get(f"{api_url}/alerts").status_code == 401
    headers = api_headers(api_url, "student", accounts["student"]["password"])
    alerts = httpx.get(f"{api_url}/alerts", headers=headers).json()["items"]
    assert any(a["rule"] == "large-group" for a in alerts)  # newest first: others may follow
