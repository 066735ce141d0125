"""The Lab page in headless Chromium: log in, see the frontier, follow a point.

Real parts: the API (its own process, a SQLite file, a teacher account), the dashboard
(its own process) and Chromium; the results folder is one the lab's own format, written
by the test (a run of the lab takes longer than a browser test should)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from services.store.db import migrate
from tests.accounts import add_accounts, password_of
from tests.dashboard.test_lab_views import write_result
from tests.support import free_port, missing, stop, wait_until
from tests.test_demo_browser import LOCAL, chromium_path, log_in


@pytest.fixture
def served(tmp_path: Path):
    db = tmp_path / "aqkol.db"
    url = f"sqlite:///{db}"
    migrate(url)
    engine = create_engine(url)
    add_accounts(engine, ("teacher",))
    engine.dispose()
    write_result(tmp_path / "lab")
    api, dash = free_port(), free_port()
    env = {
        **os.environ,
        "AQKOL_DATABASE_URL": url,
        "AQKOL_API_PORT": str(api),
        "AQKOL_API_URL": f"http://127.0.0.1:{api}",
        "AQKOL_DASHBOARD_PORT": str(dash),
        "AQKOL_VAR_DIR": str(tmp_path / "var"),
        "AQKOL_LAB_RESULTS": str(tmp_path / "lab"),
        "AQKOL_SECRET_KEY": "lab-browser-test-secret-0123456789",
    }
    env.pop("AQKOL_COMPARE_POLICY", None)
    procs = []
    logs = []
    for cmd in ("api", "dashboard"):
        log = open(tmp_path / f"{cmd}.log", "wb")  # noqa: SIM115
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", cmd],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def up(port: int, path: str) -> bool:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(p.args)
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: up(api, "/health"), 60, "the API")
        wait_until(lambda: up(dash, "/login"), 60, "the dashboard")
        yield f"http://127.0.0.1:{dash}/"
    finally:
        for p in procs:
            stop(p)
        for log in logs:
            log.close()


def test_lab_page_shows_the_frontier_and_follows_a_point(served):
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: None if LOCAL.match(r.url) else outside.append(r.url))
            log_in(page, served, "teacher", password_of("teacher"))
            page.goto(f"{served}lab")
            expect(page.locator("#lab-result")).to_contain_text("Two policies", timeout=30_000)
            page.wait_for_function(
                """() => {
                    const g = document.querySelector('#lab-frontier .js-plotly-plot');
                    return g && g.data && g.data.length && g.data[0].customdata.length === 2;
                }""",
                timeout=30_000,
            )
            # click the `none` point (the riskiest: the last, top right of the y axis)
            page.locator("#lab-frontier .scatterlayer .point").nth(1).click(force=True)
            expect(page.locator("#lab-selected")).to_contain_text("none", timeout=30_000)
            expect(page.locator("#lab-selected")).to_contain_text("aqkol up --compare none")
            page.locator("#lab-open-situation").click()
            page.wait_for_url(
                lambda u: u.rstrip("/").endswith("?policy=none") or "policy=none" in u,
                timeout=30_000,
            )
            expect(page.locator("#situation-map")).to_be_visible(timeout=30_000)
        finally:
            browser.close()
    assert outside == [], f"the page asked for outside addresses: {outside[:5]}"
