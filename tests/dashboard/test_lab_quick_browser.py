"""A Lab page that is never empty: with no result yet, a teacher starts the quick experiment
from the page, sees its progress, and the page shows its frontier when it is done.

Real parts: the API and the dashboard (their own processes, a SQLite file, a teacher and a
student account), the lab's own command started by the API, and Chromium."""

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
from tests.support import free_port, missing, stop, wait_until
from tests.test_demo_browser import chromium_path, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def empty_lab(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    migrate(url)
    engine = create_engine(url)
    add_accounts(engine, ("teacher", "student"))
    engine.dispose()
    api, dash = free_port(), free_port()
    env = {
        **os.environ,
        "AQKOL_DATABASE_URL": url,
        "AQKOL_API_PORT": str(api),
        "AQKOL_API_URL": f"http://127.0.0.1:{api}",
        "AQKOL_DASHBOARD_PORT": str(dash),
        "AQKOL_VAR_DIR": str(tmp_path / "var"),
        "AQKOL_LAB_RESULTS": str(tmp_path / "lab"),
        "AQKOL_SECRET_KEY": "lab-quick-browser-test-secret-0123456789",
    }
    procs, logs = [], []
    for cmd in ("api", "dashboard"):
        log = open(tmp_path / f"{cmd}.log", "wb")  # noqa: SIM115
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "services.cli", cmd], env=env,
                                      stdout=log, stderr=subprocess.STDOUT))  # fmt: skip

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
        yield f"http://127.0.0.1:{dash}/", tmp_path / "lab"
    finally:
        for p in procs:
            stop(p)
        for log in logs:
            log.close()


def test_teacher_starts_the_quick_experiment_and_the_page_shows_its_result(empty_lab):
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    dash, results = empty_lab
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            student = browser.new_page()
            log_in(student, dash, "student", password_of("student"))
            student.goto(f"{dash}lab")
            expect(student.locator("#lab-quick-status")).to_contain_text(
                "No result yet", timeout=30_000
            )
            expect(student.locator("#lab-quick-run")).to_have_count(0)  # teachers only
            assert not student.locator("#lab-frontier").is_visible()  # no empty axes
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            log_in(page, dash, "teacher", password_of("teacher"))
            page.goto(f"{dash}lab")
            page.click("#lab-quick-run")
            expect(page.locator("#lab-quick-status")).to_contain_text("cells done", timeout=30_000)
            expect(page.locator("#lab-result")).to_contain_text("A quick look", timeout=240_000)
            page.wait_for_function(
                """() => {
                    const g = document.querySelector('#lab-frontier .js-plotly-plot');
                    return g && g.data && g.data.length && g.data[0].customdata.length === 4;
                }""",
                timeout=30_000,
            )
            expect(page.locator("#lab-quick-status")).to_contain_text(
                "result is in the list", timeout=30_000
            )
            # the student's page follows on its own
            expect(student.locator("#lab-result")).to_contain_text("A quick look", timeout=30_000)
        finally:
            browser.close()
    assert (results / "quick-look" / "results.csv").exists()
