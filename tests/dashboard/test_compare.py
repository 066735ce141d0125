"""Two policies side by side in the situation room: the main store on the left, a policy
lane's store on the right, each from its own (fake) API, on one tick and one layer selector."""

from __future__ import annotations

import json

import httpx
import plotly.utils
import pytest

from dashboard import context
from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from dashboard.views import LANE, MAIN, TEXT
from tests.dashboard.fakes import STATS, FakeApi, unreachable
from tests.dashboard.test_login import log_in
from tests.dashboard.test_rules_page import _call, _text

MAIN_URL, LANE_URL = "http://api.test", "http://lane.test"
DP_REFUSAL = "the active policy (dp-heatmaps) releases counts only, with noise"
BUDGET_SPENT = (
    "the privacy budget of policy dp-heatmaps for 2026-01-15 is spent (1 of 1; a release costs 0.1)"
)
VALUES = {"situation-interval": 1, "situation-layer": "people", "situation-window": 3600}


def lane_fake(**kwargs) -> FakeApi:
    """A lane under gdpr-minimal: fewer events, no alerts (no face identities at rest)."""
    stats = {**STATS, "events": 777, "alerts_active": 0, "dead_letters": 0,
             "by_kind": {"vehicle.position": 777}}  # fmt: skip
    defaults = {"heat_values": [4, 9], "policy": "gdpr-minimal", "stats": stats, "alerts": []}
    return FakeApi(**{**defaults, **kwargs})


def _client(main, lane=None, *, compare_policy: str | None = "gdpr-minimal") -> tuple:
    """An app against ``main``, with ``lane`` as its policy lane if given; logged in."""
    settings = DashboardSettings(
        _env_file=None,
        api_url=MAIN_URL,
        compare_api_url=LANE_URL if lane is not None else None,
        compare_policy=compare_policy if lane is not None else None,
        dashboard_refresh_ms=1500,
        secret_key="dashboard-test-secret-0123456789",
    )
    compare = None if lane is None else ApiClient(LANE_URL, transport=httpx.MockTransport(lane))
    api = ApiClient(MAIN_URL, transport=httpx.MockTransport(main))
    app = create_app(settings, api=api, compare=compare)
    client = app.server.test_client()
    log_in(client)
    return app, client


def _page(client) -> str:
    """The situation page as the pages router renders it for this app, as JSON."""
    out = _call(client, "_pages_content.children", {"_pages_location": "/"})
    page = out["_pages_content"]["children"]
    return json.dumps(page, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def test_one_pane_without_a_lane():
    _, client = _client(FakeApi())
    rendered = _page(client)
    assert '"situation-map"' in rendered and '"situation-heat-cells"' in rendered
    assert "compare-" not in rendered and "pane-title" not in rendered
    # the lane's callback has nothing to draw and does not run
    assert _call(client, "compare-map.figure", VALUES) == {}


def test_two_panes_with_a_lane_under_one_clock_and_one_set_of_controls():
    _, client = _client(FakeApi(), lane_fake())
    rendered = _page(client)
    for ids in (MAIN, LANE):
        for cid in (ids.title, ids.events, ids.alerts_active, ids.map, ids.feed, ids.heat_marker):
            assert f'"{cid}"' in rendered, cid
    for shared in ("situation-clock", "situation-layer", "situation-window", "situation-interval"):
        assert rendered.count(f'"{shared}"') == 1, shared
    assert '"interval": 1500' in rendered
    assert "pane pane-main" in rendered and "pane pane-lane" in rendered
    assert f"comparison lane · {LANE_URL}" in rendered and f"main store · {MAIN_URL}" in rendered


def test_the_lane_client_comes_from_the_settings_and_carries_the_login():
    settings = DashboardSettings(_env_file=None, compare_api_url="http://127.0.0.1:8001")
    app = create_app(settings, api=ApiClient(MAIN_URL, transport=httpx.MockTransport(FakeApi())))
    lane = app.aqkol.compare
    assert lane is not None and lane.base_url == "http://127.0.0.1:8001"
    assert lane.token is not None and lane.token() is None  # the session's token, none here
    assert context.DashboardContext(settings, lane).compare is None


def test_the_right_pane_shows_the_lane_and_the_left_the_main_store():
    main, lane = FakeApi(), lane_fake()
    _, client = _client(main, lane)
    right = _call(client, "compare-map.figure", VALUES)
    left = _call(client, "situation-map.figure", VALUES)

    assert right[MAIN.title]["children"] == "as stored under none"
    assert right[LANE.title]["children"] == "as stored under gdpr-minimal"
    assert right[LANE.events]["children"] == "777"
    assert right[LANE.alerts_active]["children"] == "0"
    assert "camera.crowd" not in _text(right[LANE.kinds]["children"])
    assert _text(right[LANE.feed]["children"]) == "No alerts"
    assert right[LANE.heat]["children"]["props"]["data-heat-cells"] == "2"
    assert right[LANE.heat]["children"]["props"]["id"] == "compare-heat-cells"
    assert "hidden" in right[LANE.status]["className"]
    heat = next(t for t in right[LANE.map]["figure"]["data"] if t.get("name") == "heatmap")
    assert len(heat["x"]) == 2

    assert left[MAIN.events]["children"] == "12,345"
    assert "Large group" in _text(left[MAIN.feed]["children"])
    assert left[MAIN.heat]["children"]["props"]["data-heat-cells"] == "4"

    # each pane asked its own API, with the same layer, and the same login on both
    # (vehicles and alerts come with the replay frame, not asked for again)
    assert {"/stats", "/heatmap", "/classroom/replay"} <= set(lane.paths())
    assert not {"/alerts", "/events/latest"} & set(lane.paths())
    heat_params = [
        r.url.params for r in (main.requests + lane.requests) if r.url.path == "/heatmap"
    ]
    assert {p["kind"] for p in heat_params} == {"camera.crowd"}
    assert all(r.headers["authorization"] == "Bearer token-of-analyst" for r in lane.requests)
    assert "/policy" not in lane.paths()  # compare_policy names the lane's policy


def test_without_compare_policy_the_lane_names_its_own():
    _, client = _client(FakeApi(policy="edge-counts"), lane_fake(policy="dp-heatmaps"),
                        compare_policy=None)  # fmt: skip
    right = _call(client, "compare-map.figure", VALUES)
    assert right[MAIN.title]["children"] == "as stored under edge-counts"
    assert right[LANE.title]["children"] == "as stored under dp-heatmaps"


@pytest.mark.parametrize("refusal", [(422, DP_REFUSAL), (429, BUDGET_SPENT)])
def test_a_refused_heatmap_shows_its_reason_in_the_pane(refusal):
    _, client = _client(FakeApi(), lane_fake(heat_refusal=refusal))
    right = _call(client, "compare-map.figure", {**VALUES, "situation-layer": "gas"})
    assert right[LANE.status]["children"] == TEXT["heat_refused"].format(reason=refusal[1])
    assert "warn" in right[LANE.status]["className"]
    assert right[LANE.heat]["children"]["props"]["data-heat-cells"] == "0"
    assert right[LANE.events]["children"] == "777"  # the rest of the pane is still there
    names = [t.get("name", "") for t in right[LANE.map]["figure"]["data"]]
    assert "heatmap" not in names and any(n.startswith("Buses") for n in names)
    left = _call(client, "situation-map.figure", {**VALUES, "situation-layer": "gas"})
    assert "hidden" in left[MAIN.status]["className"]  # the main store released its heatmap


def test_a_refused_heatmap_of_the_main_store_shows_in_the_left_pane():
    _, client = _client(FakeApi(heat_refusal=(422, DP_REFUSAL)), lane_fake())
    left = _call(client, "situation-map.figure", VALUES)
    assert DP_REFUSAL in left[MAIN.status]["children"]
    assert left[MAIN.events]["children"] == "12,345"


def test_an_unreachable_lane_shows_in_its_pane_only():
    _, client = _client(FakeApi(), unreachable)
    right = _call(client, "compare-map.figure", VALUES)
    assert right[LANE.status]["children"] == TEXT["unreachable"].format(url=LANE_URL)
    assert "error" in right[LANE.status]["className"]
    assert right[LANE.events]["children"] == "–"
    assert right[LANE.title]["children"] == "as stored under gdpr-minimal"
    left = _call(client, "situation-map.figure", VALUES)
    assert "hidden" in left[MAIN.status]["className"]


def test_each_pane_says_what_its_policy_removed_with_counts_and_an_example():
    main, lane = FakeApi(), lane_fake()
    _, client = _client(main, lane)
    rendered = _page(client)
    assert '"situation-effect"' in rendered and '"compare-effect"' in rendered
    out = _call(client, "compare-effect.children", VALUES)
    left = _text(out[MAIN.effect]["children"])
    right = _text(out[LANE.effect]["children"])
    assert "What none removed or changed" in left and "stored as sent" in left
    assert "What gdpr-minimal removed or changed" in right
    assert "fields dropped camera.face_match data.name 3" in right
    assert "identities pseudonymized gas.reading source, data.household 40" in right
    assert "events not stored payment.gas – 2 †" in right
    assert "newest 200 messages on the wire" in right
    # the example, as the API released it: the name gone, the entry withheld on both sides
    assert "One camera.face_match event, before (on the wire) and after (as stored)" in right
    assert "data.name withheld — dropped" in right
    assert "data.enrollment_id withheld withheld pseudonymized" in right
    assert "data.likelihood 0.93 0.93 kept" in right
    # each pane's summary came from its own API, for the window the class selected
    asked = [r.url.params for r in lane.requests if r.url.path == "/policy/effect"]
    assert asked and asked[-1]["window_s"] == "3600"
    assert "/policy/effect" in main.paths()
    # the next tick sends nothing when nothing changed
    shown = out["situation-view-effect"]["data"]
    again = _call(client, "compare-effect.children", {**VALUES, "situation-view-effect": shown})
    assert MAIN.effect not in again and LANE.effect not in again


def test_a_single_pane_has_no_effect_box_and_asks_for_none():
    main = FakeApi()
    _, client = _client(main)
    assert '"situation-effect"' not in _page(client)
    assert _call(client, "compare-effect.children", VALUES) == {}
    assert "/policy/effect" not in main.paths()


def test_in_two_panes_the_map_keeps_its_labels_off_the_markers():
    _, client = _client(FakeApi(), lane_fake())
    fig = _call(client, "compare-map.figure", VALUES)[LANE.map]["figure"]
    traces = fig["data"]
    names = [t.get("name", "") for t in traces]
    labels = names.index("Place names")
    # the names are drawn before (under) every marker trace, and no vehicle carries a label
    markers = [  # the heatmap's hover points are transparent: not a marker one sees
        i
        for i, t in enumerate(traces)
        if "markers" in (t.get("mode") or "") and t.get("name") != "heatmap"
    ]
    assert markers and labels < min(markers)
    assert all(
        t.get("mode") == "markers"
        for t in traces
        if (t.get("meta") or {}).get("layer") == "vehicles"
    )
    assert fig["layout"]["legend"]["font"]["size"] < 15
