"""A student's vote on a dilemma card reaches the teacher's tally, in headless Chromium
(the API and the dashboard in their own processes)."""

from __future__ import annotations

import pytest

from tests.accounts import password_of
from tests.dashboard.test_lab_quick_browser import empty_lab  # noqa: F401 (a fixture)
from tests.support import missing
from tests.test_demo_browser import chromium_path, log_in

pytestmark = pytest.mark.browser


def test_a_students_vote_reaches_the_teachers_tally(empty_lab):  # noqa: F811
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    dash, _results = empty_lab
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            desk = browser.new_page(viewport={"width": 1400, "height": 1000})
            log_in(desk, dash, "teacher", password_of("teacher"))
            desk.goto(f"{dash}dilemmas")
            tally = desk.locator("#dilemma-tally-faces")
            expect(tally).to_contain_text("Do not collect: 0", timeout=30_000)
            student = browser.new_page()
            log_in(student, dash, "student", password_of("student"))
            student.goto(f"{dash}dilemmas")
            expect(student.locator("#dilemma-tally-faces")).to_have_count(0, timeout=30_000)
            button = student.locator("#dilemma-faces .vote-btn", has_text="Do not collect")
            expect(button).to_be_visible(timeout=30_000)
            button.click()
            expect(student.locator("#dilemmas-vote-msg")).to_contain_text("Do not collect")
            expect(tally).to_contain_text("Do not collect: 1", timeout=30_000)  # live
            expect(tally).to_contain_text("Keep: 0")
        finally:
            browser.close()
