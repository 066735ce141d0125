"""Every page of the dashboard in Russian and in Kazakh, walked in headless Chromium against
`aqkol up` (the town running, so that the map legend, alerts, cameras and the wire are there).

Two checks on each page: the dashboard records every string it was asked to show that the
catalog does not translate (``AQKOL_I18N_MISSES``), and none may be recorded; and nothing the
page shows (text, map legend and axis titles, placeholders, tooltips, the browser title) is an
English string of the catalog, which catches a string nobody passed through ``_()``."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from dashboard import i18n
from tests.dashboard.pages import drawn
from tests.dashboard.test_lab_views import write_result
from tests.support import missing, stop, wait_until
from tests.test_demo_browser import chromium_path, log_in, start_up

pytestmark = pytest.mark.browser

LATIN_WORD = re.compile("[A-Za-z]{3}")
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")

SHOWN_JS = """() => {
    // the account's name is data (a demo account is called "teacher"), its role is not
    document.querySelectorAll('.topbar-user-name').forEach(e => { e.textContent = ''; });
    const out = document.body.innerText.split('\\n');
    document.querySelectorAll('svg text').forEach(t => out.push(t.textContent));
    for (const a of ['placeholder', 'title', 'data-title', 'aria-label', 'alt']) {
        document.querySelectorAll('[' + a + ']').forEach(e => out.push(e.getAttribute(a)));
    }
    out.push(document.title);
    return out.map(s => (s || '').trim()).filter(s => s);
}"""
IDLE_JS = "() => !document.querySelector('[data-dash-is-loading=\"true\"]')"


def english_patterns() -> list[tuple[str, re.Pattern[str], bool]]:
    """The catalog's English strings that read differently in Russian and Kazakh, as
    patterns (a ``{placeholder}`` matches anything): (msgid, pattern, search in a line)."""
    ru = {m.id: m.string for m in i18n.read_catalog("ru") if m.id}
    out = []
    for msgid, text in ru.items():
        for english in msgid if isinstance(msgid, tuple) else (msgid,):
            literal = PLACEHOLDER.sub("", english)
            if not LATIN_WORD.search(literal) or english in (text if isinstance(text, tuple)
                                                             else (text,)):  # fmt: skip
                continue
            parts = [re.escape(p) for p in PLACEHOLDER.split(english.strip())]
            pattern = re.compile(".+?".join(parts))
            # a sentence is looked for inside a line; a word or two is the whole line
            out.append((english, pattern, len(literal.split()) >= 4))
    return out


def english_on_page(shown: list[str], patterns) -> list[str]:
    found = []
    for line in set(shown):
        for english, pattern, inside in patterns:
            if (pattern.search(line) if inside else pattern.fullmatch(line)) is not None:
                found.append(f"{english!r} in {line[:120]!r}")
    return sorted(found)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory):
    """`aqkol up` with the misses log on and a lab result to show (one for both languages:
    each records its misses under its own code)."""
    tmp_path = tmp_path_factory.mktemp("languages")
    misses = tmp_path / "misses.tsv"
    write_result(tmp_path / "lab")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(i18n.MISSES_ENV, str(misses))
        env.setenv("AQKOL_LAB_RESULTS", str(tmp_path / "lab"))
        proc, _api, dash, log = start_up(tmp_path, speed="300")
    accounts = tmp_path / "var" / "demo-accounts.json"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "up.log").read_text()[-3000:])
        try:  # the accounts made, and the dashboard answering
            up = httpx.get(f"http://127.0.0.1:{dash}/login", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return up and accounts.exists()

    try:
        wait_until(ready, 120, "aqkol up to serve the dashboard", interval=0.25)
        password = json.loads(accounts.read_text())["teacher"]["password"]
        yield f"http://127.0.0.1:{dash}", password, misses
    finally:
        stop(proc)
        log.close()


def _settle(page, selector: str) -> None:
    page.wait_for_selector(selector, timeout=120_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_page_in_the_language_shows_no_english_and_misses_nothing(town, lang):
    chromium = chromium_path()
    if chromium is None:
        missing("Chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    dash, password, misses = town
    patterns = english_patterns()
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_cookies([{"name": i18n.COOKIE, "value": lang, "url": dash}])
            page = context.new_page()
            page.goto(f"{dash}/login?error=credentials")
            expect(page.locator("#login-form")).to_be_visible(timeout=30_000)
            found["/login"] = english_on_page(page.evaluate(SHOWN_JS), patterns)
            pages = drawn("teacher")  # each page of the navigation, and what shows it drawn
            log_in(page, f"{dash}/", "teacher", password)
            # the layout is drawn by the browser after the URL changes: wait for the nav
            page.wait_for_function(
                f"document.querySelectorAll('.nav a').length >= {len(pages)}", timeout=60_000
            )
            links = page.eval_on_selector_all(
                ".nav a", "els => els.map(e => [e.getAttribute('href'), e.innerText])"
            )
            assert [href for href, _name in links] == list(pages), links
            for path, selector in pages.items():
                page.goto(f"{dash}{path}")
                _settle(page, selector)
                if path == "/rules":  # open a rule and replay the day through it
                    page.locator("#rules-select label").first.click()
                    _settle(page, "#rules-editor-title .editor-file")
                    page.click("#rules-preview")
                    _settle(page, "#rules-preview-counts")
                if path == "/wall":  # the teacher reveals the ground truth
                    page.locator("#wall-truth input").check()
                    _settle(page, "#wall-map .main-svg")
                found[path] = english_on_page(page.evaluate(SHOWN_JS), patterns)
        finally:
            browser.close()
    english = {path: lines for path, lines in found.items() if lines}
    assert english == {}, f"{lang}: English on the page: {json.dumps(english, indent=1)}"
    missed = set()
    if misses.exists():
        missed = {
            line.split("\t", 1)[1]
            for line in misses.read_text(encoding="utf-8").splitlines()
            if line.startswith(f"{lang}\t")
        }
    assert missed == set(), f"{lang}: asked for but not in the catalog: {sorted(missed)[:20]}"


def test_the_english_patterns_find_english_and_pass_translations():
    patterns = english_patterns()
    assert english_on_page(["Cleared 3 of 4 alerts."], patterns)
    assert english_on_page(["Lake"], patterns)  # the map legend
    assert not english_on_page(
        ["Озеро", "Снято 3 из 4 тревог.", "cam-07", "12:00", "camera.crowd"], patterns
    )
