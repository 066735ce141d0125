"""The teacher's classroom in headless Chromium against a real `aqkol up` (module-scoped).

One real stack (embedded broker, ingest, API, dashboard, simulator at 60x) serves every test
of the module, in order: each teacher control (pause, resume, speed, jump, inject, rewind and
replay, reset), the language switch, the camera wall and the debrief export. Each test fails
if the page asks for any address outside this machine. Nothing is faked.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import missing, stop, wait_until
from tests.test_demo_browser import LOCAL, api_headers, chromium_path, log_in, start_up

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`aqkol up` as a teacher starts it, on free ports, in a scratch folder."""
    tmp = tmp_path_factory.mktemp("classroom")
    proc, api, dash, log = start_up(tmp, speed="60")
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
            r = httpx.get(f"{api_url}/classroom/status", headers=headers, timeout=3)
            return r.json().get("state") == "running" and bool(r.json().get("stored_newest"))
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        wait_until(ready, 120, "the classroom stack to run", interval=0.25)
        yield {
            "dash": f"http://127.0.0.1:{dash}/",
            "api": api_url,
            "headers": headers,
            "accounts": json.loads(accounts.read_text()),
            "dir": tmp,
            "log": tmp / "up.log",
        }
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


@pytest.fixture(scope="module")
def session(stack, browser):
    """One logged-in teacher's page at 1920x1080, and the outside addresses it asked for."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if LOCAL.match(r.url) else outside.append(r.url))
    log_in(page, stack["dash"], "teacher", stack["accounts"]["teacher"]["password"])
    yield page, outside
    context.close()


@pytest.fixture
def page(session, stack):
    """The teacher's page on the situation room; fails the test on any outside request."""
    pg, outside = session
    pg.goto(stack["dash"])
    pg.locator("#classroom-state").wait_for(timeout=30_000)
    yield pg
    assert outside == [], f"the page asked for outside addresses: {outside[:5]}"


def status(stack) -> dict:
    """The simulator's state as the API reports it (the stack's log if the API is gone)."""
    try:
        return httpx.get(f"{stack['api']}/classroom/status", headers=stack["headers"]).json()
    except httpx.ConnectError:
        raise AssertionError("aqkol up is gone:\n" + stack["log"].read_text()[-4000:]) from None


def sim_time(stack) -> datetime:
    return datetime.fromisoformat(status(stack)["sim_time"])


def test_a_pause_and_resume_show_the_simulators_own_state(page, stack):
    from playwright.sync_api import expect

    expect(page.locator("#classroom-state")).to_contain_text("running", timeout=20_000)
    page.click("#classroom-pause")
    expect(page.locator("#classroom-msg")).to_contain_text("Paused", timeout=20_000)
    expect(page.locator("#classroom-state")).to_contain_text("paused", timeout=20_000)
    frozen = status(stack)["published"]
    page.wait_for_timeout(1500)  # paused: 1.5 s would be 90 simulated seconds of events
    assert status(stack)["published"] == frozen
    page.click("#classroom-resume")
    expect(page.locator("#classroom-state")).to_contain_text("running", timeout=20_000)
    wait_until(lambda: status(stack)["published"] > frozen, 20, "events after resume")


def test_speed_buttons_set_the_simulators_speed(page, stack):
    from playwright.sync_api import expect

    page.click("#classroom-speed-10")
    expect(page.locator("#classroom-state")).to_contain_text("10×", timeout=20_000)
    expect(page.locator("#classroom-speed-10")).to_have_class("btn speed-btn active")
    assert status(stack)["speed"] == 10
    page.click("#classroom-speed-60")
    expect(page.locator("#classroom-state")).to_contain_text("60×", timeout=20_000)


def test_jump_fast_forwards_to_the_time_typed(page, stack):
    from playwright.sync_api import expect

    now = sim_time(stack)
    target = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    page.fill("#classroom-jump-to", target.strftime("%H:%M"))
    page.click("#classroom-jump")
    expect(page.locator("#classroom-msg")).to_contain_text("Jumping ahead", timeout=20_000)
    wait_until(lambda: sim_time(stack) >= target, 120, f"the town to reach {target:%H:%M}")
    expect(page.locator("#classroom-state")).to_contain_text("running", timeout=20_000)
    assert status(stack)["speed"] == 60  # the speed set before the jump holds after it


def test_jump_backwards_is_refused_with_a_reason(page, stack):
    from playwright.sync_api import expect

    page.fill("#classroom-jump-to", "00:01")
    page.click("#classroom-jump")
    expect(page.locator("#classroom-msg")).to_contain_text("forward only", timeout=20_000)


def test_inject_plays_a_scenarios_incidents_from_now(page, stack):
    from playwright.sync_api import expect

    page.click("#classroom-scenario")
    page.get_by_role("option", name="protest", exact=True).click()
    page.click("#classroom-inject")
    expect(page.locator("#classroom-msg")).to_contain_text("Injected protest", timeout=20_000)
    expect(page.locator("#classroom-state")).to_contain_text("injected: protest", timeout=30_000)
    truth = stack["dir"] / "runs"
    wait_until(
        lambda: any('"injected":true' in p.read_text() for p in truth.glob("*/truth.jsonl")),
        30,
        "the injected incident in the run's truth",
    )


def test_timeline_rewinds_plays_and_returns_to_live(page, stack):
    from playwright.sync_api import expect

    thumb = page.locator(".classroom-slider [role=slider]").first
    thumb.wait_for(timeout=20_000)
    thumb.focus()
    page.keyboard.press("Home")  # the slider to the first stored minute
    expect(page.locator("#clock-replay")).to_be_visible(timeout=20_000)
    expect(page.locator("#classroom-replay-at")).to_contain_text("replay at", timeout=10_000)
    shown = page.locator("#situation-clock").inner_text()
    live = status(stack)["sim_time"]
    assert shown.split()[0] < datetime.fromisoformat(live).strftime("%H:%M:%S")
    page.click("#classroom-play")  # the replay moves on by itself, trails with it
    expect(page.locator("#classroom-play")).to_contain_text("Pause replay")
    first = page.locator("#classroom-replay-at").inner_text()
    page.wait_for_function(
        f"() => document.querySelector('#classroom-replay-at').innerText !== {first!r}",
        timeout=20_000,
    )
    page.wait_for_function(  # as the replay plays on, the buses draw trails behind them
        """() => {
            const g = document.querySelector('#situation-map .js-plotly-plot');
            const layers = g && g.data ? g.data.map(t => (t.meta || {}).layer || '') : [];
            return layers.includes('trails') && layers.includes('vehicles');
        }""",
        timeout=30_000,
    )
    page.click("#classroom-live")
    expect(page.locator("#clock-replay")).to_have_count(0, timeout=20_000)
    expect(page.locator("#classroom-replay-at")).to_contain_text("live")


def test_language_switch_translates_the_interface(page, stack):
    from playwright.sync_api import expect

    page.click("#lang-ru")
    expect(page.locator(".nav")).to_contain_text("Ситуационный зал", timeout=20_000)
    expect(page.locator("#classroom-pause")).to_have_text("Пауза")
    page.click("#lang-kk")
    expect(page.locator(".nav")).to_contain_text("Жағдай залы", timeout=20_000)
    expect(page.locator("#classroom-pause")).to_have_text("Үзіліс")
    page.click("#lang-en")
    expect(page.locator(".nav")).to_contain_text("Situation room", timeout=20_000)


def test_camera_wall_shows_each_camera_and_the_truth_only_on_request(page, stack):
    from playwright.sync_api import expect

    page.goto(f"{stack['dash']}wall")
    tiles = page.locator("#wall-cameras .camera-tile")
    expect(tiles.first).to_be_visible(timeout=30_000)
    assert tiles.count() == 150  # one tile per camera
    expect(page.locator("#wall-cameras-summary")).to_contain_text("150 cameras")
    expect(page.locator("#wall-cameras .truth")).to_have_count(0)  # hidden until revealed
    page.locator("#wall-truth input").check()
    expect(page.locator("#wall-cameras-summary")).to_contain_text(
        "ground truth, teacher only", timeout=20_000
    )
    # the injected protest brings the "activist" list before the cameras: matches show,
    # labelled as misuse, each with its truth
    match = page.locator("#wall-cameras .tile-match").first
    expect(match).to_be_visible(timeout=120_000)
    expect(match.locator(".truth")).to_have_count(1, timeout=20_000)
    activist = page.locator("#wall-cameras .tile-match.misuse")
    if activist.count():
        expect(activist.first).to_contain_text("MISUSE")
    expect(page.locator("#wall-map .main-svg").first).to_be_visible()
    page.screenshot(path=str(stack["dir"] / "wall.png"))


def test_debrief_export_is_a_self_contained_html_file(page, stack):
    with page.expect_download(timeout=30_000) as got:
        page.click("#classroom-debrief")
    path = got.value.path()
    html = Path(path).read_text(encoding="utf-8")
    assert got.value.suggested_filename.startswith("aqkol-debrief-")
    for heading in ("session debrief", "Privacy figures now", "Alerts", "Identity reveals",
                    "Data-minimization policy", "classroom.pause"):  # fmt: skip
        assert heading in html, heading
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_reset_starts_the_town_over_with_an_empty_store(page, stack):
    from playwright.sync_api import expect

    was = httpx.get(f"{stack['api']}/stats", headers=stack["headers"]).json()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#classroom-reset")
    # the ingest and the simulator restart (the town is rebuilt): slow on a loaded machine
    expect(page.locator("#classroom-state")).to_contain_text("reset1", timeout=120_000)

    def fresh() -> bool:
        s = httpx.get(f"{stack['api']}/stats", headers=stack["headers"]).json()
        return 0 < s["events"] < was["events"] and s["sim_time"] < was["sim_time"]

    wait_until(fresh, 120, "the store to hold only the restarted town's events")
    assert status(stack)["injected"] == []
