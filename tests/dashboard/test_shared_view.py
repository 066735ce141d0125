"""The shared view: a class's browsers cost one computation per tick, and a refresh sends
only what changed since the version the browser shows."""

from __future__ import annotations

import json

import dash
import httpx

from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from dashboard.shared import SharedView
from tests.dashboard.fakes import FakeApi
from tests.dashboard.test_login import log_in


def _app(fake: FakeApi, refresh_ms: int = 60_000):
    # a long refresh: the shared view stays fresh for the whole test (half of it)
    settings = DashboardSettings(
        _env_file=None, api_url="http://api.test", dashboard_refresh_ms=refresh_ms
    )
    api = ApiClient(settings.api_url, transport=httpx.MockTransport(fake))
    return create_app(settings, api=api)


def _tick(client, shown: int | None, window: int = 3600) -> tuple[dict, int]:
    """The situation room's refresh as the browser calls it: its response and its size."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if "situation-map.figure" in d["output"])
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in dep["output"].strip(".").split("...")
    ]
    values = {"n_intervals": 1, "situation-layer": "people", "situation-window": window}
    body = {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [
            {**i, "value": values.get(i["id"], values.get(i["property"]))} for i in dep["inputs"]
        ],
        "changedPropIds": ["situation-interval.n_intervals"],
        "state": [{**s, "value": shown} for s in dep["state"]],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.data[:500]
    return r.get_json()["response"], len(r.data)


def test_a_class_of_browsers_costs_one_fetch_per_tick():
    fake = FakeApi()
    app = _app(fake)
    students = [app.server.test_client() for _ in range(5)]
    for c in students:
        log_in(c, "student")
    for c in students:
        out, _size = _tick(c, None)
        assert out["kpi-events"]["children"] == "12,345"
    heatmaps = [r for r in fake.requests if r.url.path == "/heatmap"]
    assert len(heatmaps) == 1, len(heatmaps)
    assert app.aqkol.shared.computed == 1
    # another role gets its own view: what the API releases depends on who asks
    teacher = app.server.test_client()
    log_in(teacher, "teacher")
    _tick(teacher, None)
    assert app.aqkol.shared.computed == 2


def test_a_refresh_sends_what_changed_not_the_town_again():
    fake = FakeApi(heat_values=[1, 5, 9])
    app = _app(fake, refresh_ms=250)  # fresh for 125 ms: the next tick is a new version
    client = app.server.test_client()
    log_in(client, "student")
    first, first_size = _tick(client, None)
    shown = first["situation-view-main"]["data"]
    assert "data" in first["situation-map"]["figure"]  # the first load: the whole figure
    fake.heat_values = [2, 5, 9, 11]  # the town is the same; the heat moved
    app.aqkol.shared.ttl_s = 0  # the next tick computes a new version
    later, later_size = _tick(client, shown)
    assert later["situation-view-main"]["data"] > shown
    patch = later["situation-map"]["figure"]
    assert patch.get("__dash_patch_update") == "__dash_patch_update", patch
    changed = json.dumps(patch)
    assert '"Lake"' not in changed and "Streets" not in changed  # the town is not sent again
    assert "heatmap" in changed
    assert "kpi-events" not in later  # unchanged counters are not sent (no_update)
    assert later_size < first_size / 2 and later_size < 50_000, (first_size, later_size)
    # a browser whose version was forgotten (or a first load) gets everything again
    again, _ = _tick(client, 10**9)
    assert "data" in again["situation-map"]["figure"]


def test_patch_replaces_changed_traces_and_follows_a_changing_count():
    view = SharedView(ttl_s=0)
    figs = iter(
        [
            {"data": [{"name": "town"}, {"name": "a", "x": [1]}], "layout": {}},
            {"data": [{"name": "town"}, {"name": "a", "x": [2]}, {"name": "b"}], "layout": {}},
            {"data": [{"name": "town"}], "layout": {}},
        ]
    )
    v1 = view.view("k", lambda: {"f": next(figs)}, ("f",))
    v2 = view.view("k", lambda: {"f": next(figs)}, ("f",))
    ops = view.since(v2, v1.number)["f"]._operations
    assert [(o["operation"], o["location"]) for o in ops] == [
        ("Assign", ["data", 1]),
        ("Insert", ["data"]),
    ]
    v3 = view.view("k", lambda: {"f": next(figs)}, ("f",))
    ops = view.since(v3, v2.number)["f"]._operations
    assert [(o["operation"], o["location"]) for o in ops] == [
        ("Delete", ["data", 2]),
        ("Delete", ["data", 1]),
    ]
    assert view.since(v3, v3.number)["f"] is dash.no_update


def test_an_expired_session_gets_no_shared_view():
    fake = FakeApi()
    app = _app(fake)
    fresh, expired = app.server.test_client(), app.server.test_client()
    log_in(fresh, "student")
    log_in(expired, "student")
    with expired.session_transaction() as session:
        session["expires"] = 0  # the login ran out
    _tick(fresh, None)
    deps = expired.get("/_dash-dependencies")
    # an expired login is no login: the callback is refused before it runs (issue 16), so
    # the fresh session's shared view is not handed to it
    assert deps.status_code in (401, 403) or _refused(expired)
    assert app.aqkol.shared.computed == 1


def _refused(client) -> bool:
    try:
        _tick(client, None)
    except AssertionError as exc:
        return "not logged in" in str(exc)
    return False
