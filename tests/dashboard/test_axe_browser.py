"""Accessibility in headless Chromium: axe-core on every page, as a student and as a teacher.

One real `aqkol up --compare gdpr-minimal` (embedded broker, ingest, API, its policy lane,
dashboard, simulator) serves the module, so the situation room is checked with both its
panes and their summaries of what the policy changed. Each page of the navigation (and the
login page, the wall) is loaded and waited for, then axe-core (``axe-playwright-python``)
runs on it: no serious or critical violation may remain. Keyboard: a skip link is the first
stop of the Tab key and moves the focus to the page's main content; every control in the
teacher's situation room can be reached with the keyboard and shows where the focus is.
Nothing is faked.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.dashboard.pages import drawn
from tests.support import missing, stop, wait_until
from tests.test_demo_browser import api_headers, chromium_path, log_in, start_up

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`aqkol up --compare gdpr-minimal` on free ports, in a scratch folder."""
    tmp = tmp_path_factory.mktemp("axe")
    proc, api, dash, log = start_up(tmp, speed="60", extra=["--compare", "gdpr-minimal"])
    api_url = f"http://127.0.0.1:{api}"
    accounts = tmp / "var" / "demo-accounts.json"
    headers: dict[str, str] = {}

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp / "up.log").read_text()[-3000:])
        try:
            if not headers:
                if not accounts.exists():
                    return False
                password = json.loads(accounts.read_text())["teacher"]["password"]
                headers.update(api_headers(api_url, "teacher", password))
            r = httpx.get(f"{api_url}/stats", headers=headers, timeout=3)
            return r.json()["events"] > 0
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        wait_until(ready, 150, "the stack to store its first events", interval=0.25)
        yield {"dash": f"http://127.0.0.1:{dash}/", "accounts": json.loads(accounts.read_text())}
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def browser():
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            yield b
        finally:
            b.close()


def _serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:6])
        for v in found
        if v.get("impact") in SERIOUS
    ]


def _settle(page, path: str) -> None:
    """Load ``path`` and wait until its callbacks have filled it in."""
    page.goto(path)
    page.wait_for_load_state("networkidle", timeout=60_000)
    page.locator("#_pages_content > *").first.wait_for(timeout=30_000)
    if path.endswith("/"):
        page.locator("#situation-heat-cells").wait_for(timeout=30_000)
        page.wait_for_function(
            "document.querySelector('#compare-effect table, #compare-effect .effect-empty')",
            timeout=60_000,
        )


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_axe_finds_nothing_serious_on_any_page(stack, browser, role):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        page.goto(f"{stack['dash']}login")
        page.locator("#login-username").wait_for(timeout=30_000)
        problems["/login"] = _serious(page)
        log_in(page, stack["dash"], role, stack["accounts"][role]["password"])
        for path in drawn(role):  # every page of the role's navigation
            _settle(page, stack["dash"].rstrip("/") + path)
            problems[path] = _serious(page)
    finally:
        context.close()
    found = {p: v for p, v in problems.items() if v}
    assert not found, json.dumps(found, indent=1)


def test_the_keyboard_reaches_the_content_and_every_control(stack, browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    try:
        log_in(page, stack["dash"], "teacher", stack["accounts"]["teacher"]["password"])
        _settle(page, stack["dash"])
        page.keyboard.press("Tab")
        first = page.evaluate("document.activeElement.id")
        assert first == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        # Tab on through the page: the teacher's controls and the layer selector come up,
        # each with a visible focus ring
        seen: set[str] = set()
        for _ in range(80):
            page.keyboard.press("Tab")
            info = page.evaluate(
                "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
                " return [e.id || e.name || e.tagName, s.outlineStyle, s.outlineWidth,"
                " s.boxShadow]; })()"
            )
            seen.add(info[0])
            if info[0] in ("BODY", "HTML"):  # past the last control: the browser's own stops
                continue
            ring = info[1] not in ("none", "") and info[2] not in ("0px", "")
            assert ring or info[3] not in ("none", ""), f"no focus ring on {info[0]}"
        assert {"classroom-pause", "classroom-policy-apply"} <= seen, sorted(seen)
        assert any(s.startswith("situation-layer") or s == "INPUT" for s in seen), sorted(seen)
    finally:
        context.close()
