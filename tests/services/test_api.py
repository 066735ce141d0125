"""The API over a real SQLite file filled by the ingest's own write path."""

from __future__ import annotations

from datetime import timedelta

import h3
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.events.geo import to_latlon
from services.ingest import Ingest
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message

CROWD_RULE = """\
id: large-group
title: Large group
severity: major
purpose: public_safety
kinds: [camera.crowd]
when: data.count > 25
value: data.count
"""


@pytest.fixture
def client(tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "large-group.yaml").write_text(CROWD_RULE)
    settings = make_settings(
        tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", rules_dir=rules
    )
    migrate(sqlite_url)
    ing = Ingest(settings)
    evs = []
    # 30 gas readings in two places, a minute apart; crowds; a bus
    for i in range(30):
        xy = (-500, 0) if i % 2 else (600, 300)
        evs.append(
            make_event("gas.reading", f"gas-{i:04d}", T0 + timedelta(minutes=i), geo=to_latlon(*xy))
        )
    for i in range(5):
        evs.append(
            make_event(
                "camera.crowd",
                "cam-007",
                T0 + timedelta(minutes=i),
                {"count": 20 + 5 * i, "window_s": 60},
            )
        )
    evs.append(make_event("vehicle.position", "bus-01", T0 + timedelta(minutes=3)))
    evs.append(make_event("vehicle.position", "bus-01", T0 + timedelta(minutes=4)))
    evs.append(make_event("vehicle.position", "bus-02", T0 + timedelta(minutes=4, seconds=5)))
    ing.process([message(e) for e in evs])
    ing.process([("aqkol/v1/gas.reading/gas-0001", b"nope")])
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "teacher")))  # the teacher may call everything
        c.events = evs  # type: ignore[attr-defined]
        yield c


def test_health(client):
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_stats_counts_by_kind_dead_letters_and_alerts(client):
    s = client.get("/stats").json()
    assert s["events"] == 38
    assert s["by_kind"] == {"gas.reading": 30, "camera.crowd": 5, "vehicle.position": 3}
    assert s["dead_letters"] == 1
    assert s["alerts_active"] == 1  # counts 30, 35, 40 exceed the default 25
    assert s["sim_time"].startswith("2026-01-15T02:") or s["sim_time"].endswith("Z")


def test_events_filters_and_cursor_paging_visit_each_event_once(client):
    seen, cursor = [], None
    while True:
        params = {"kind": "gas.reading", "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get("/events", params=params).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [e["id"] for e in client.events if e["kind"] == "gas.reading"]
    assert seen == expected


def test_events_time_range_source_and_bbox(client):
    since = (T0 + timedelta(minutes=10)).isoformat()
    until = (T0 + timedelta(minutes=20)).isoformat()
    r = client.get("/events", params={"kind": "gas.reading", "since": since, "until": until}).json()
    assert len(r["items"]) == 10
    lat, lon = to_latlon(-500, 0)
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    r = client.get("/events", params={"bbox": box, "limit": 100}).json()
    assert len(r["items"]) == 15 and all(
        e["source"] in {f"gas-{i:04d}" for i in range(1, 30, 2)} for e in r["items"]
    )
    r = client.get("/events", params={"source": "cam-007"}).json()
    assert [e["data"]["count"] for e in r["items"]] == [20, 25, 30, 35, 40]


@pytest.mark.parametrize(
    "params",
    [{"since": "2026-01-15T07:00:00"}, {"bbox": "1,2,3"}, {"cursor": "%%%"}, {"limit": 0}],
)
def test_events_bad_parameters_are_422(client, params):
    assert client.get("/events", params=params).status_code == 422


def test_latest_position_per_vehicle(client):
    r = client.get("/events/latest", params={"kind": "vehicle.position", "within_s": 600}).json()
    assert sorted((e["source"], e["ts"]) for e in r["items"])[0][0] == "bus-01"
    by_source = {e["source"]: e for e in r["items"]}
    assert set(by_source) == {"bus-01", "bus-02"}
    assert by_source["bus-01"]["id"] == client.events[-2]["id"]


def test_heatmap_sums_per_cell_over_the_window(client):
    r = client.get(
        "/heatmap", params={"kind": "gas.reading", "agg": "sum", "window_s": 3600, "res": 9}
    ).json()
    cells = {c["cell"]: c for c in r["cells"]}
    assert len(cells) == 2
    west = h3.latlng_to_cell(*to_latlon(-500, 0), 9)
    assert cells[west]["n"] == 15 and cells[west]["value"] == pytest.approx(15 * 0.4)
    assert len(cells[west]["boundary"]) == 6
    # a 10-minute window ending at the newest reading holds only the last ten readings
    r = client.get("/heatmap", params={"kind": "gas.reading", "window_s": 600}).json()
    assert sum(c["value"] for c in r["cells"]) == 10


def test_heatmap_of_an_empty_layer_is_empty(client):
    r = client.get("/heatmap", params={"kind": "camera.object"}).json()
    assert r["cells"] == [] and r["until"] is None


def test_alerts_list_the_open_crowd_alert(client):
    items = client.get("/alerts", params={"state": "active"}).json()["items"]
    assert len(items) == 1
    a = items[0]
    assert a["rule"] == "large-group" and a["source"] == "cam-007" and a["count"] == 3
    assert a["value"] == 40 and a["geo"] is not None


def test_dead_letters_show_reason(client):
    items = client.get("/dead-letters").json()["items"]
    assert items[0]["reason"].startswith("invalid JSON") and items[0]["payload_preview"] == "nope"


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/events", "/heatmap", "/alerts", "/stats"} <= set(paths)


def test_town_map_layers_for_the_offline_dashboard(client):
    town = client.get("/town").json()
    assert {"lake", "streets", "buildings", "places", "stops", "routes", "cameras"} <= set(town)
    kinds = {p["kind"] for p in town["places"]}
    assert {"school", "hospital", "akimat", "market"} <= kinds
    assert len(town["cameras"]) >= 100
    lake_west = min(x for x, _y in town["lake"])
    assert all(x < lake_west for b in town["buildings"] for x, _y in b["polygon"])  # lake east


def test_acknowledge_assign_and_clear_alerts(client):
    (a,) = client.get("/alerts", params={"state": "active"}).json()["items"]
    r = client.post("/alerts/acknowledge", json={"ids": [a["id"]], "by": "duty", "assignee": "ops"})
    assert r.json() == {"changed": [a["id"]]}
    (b,) = client.get("/alerts", params={"state": "open"}).json()["items"]
    # the logged-in user acts: a body's "by" cannot speak for someone else
    assert (b["state"], b["acknowledged_by"], b["assignee"]) == ("acknowledged", "teacher", "ops")
    assert b["acknowledged_at"] is not None
    r = client.post("/alerts/clear", json={"rule": "large-group", "by": "duty", "reason": "gone"})
    assert r.json() == {"changed": [a["id"]]}
    (c,) = client.get("/alerts", params={"state": "cleared"}).json()["items"]
    assert (c["cleared_by"], c["clear_reason"]) == ("teacher", "gone")
    assert client.post("/alerts/clear", json={"ids": [a["id"]]}).json() == {"changed": []}


def test_rules_list_with_state_counts_and_refusals(client, tmp_path):
    (tmp_path / "rules" / "broken.yaml").write_text(CROWD_RULE.replace("major", "huge"))
    items = {r["id"]: r for r in client.get("/rules").json()["items"]}
    lg = items["large-group"]
    assert lg["state"] == "active" and lg["alerts"] == {"active": 1}
    assert lg["needs"] == ["data.count"]
    bad = items["broken"]
    assert bad["state"] == "refused"
    assert (
        bad["error"]
        == {
            "file": "broken.yaml",
            "line": 3,
            "message": bad["error"]["message"],
        }
        and "severity" in bad["error"]["message"]
    )


def test_validate_as_you_type(client):
    ok = client.post("/rules/validate", content=CROWD_RULE, headers={"content-type": "text/plain"})
    assert ok.json() == {"ok": True, "error": None, "needs": ["data.count"]}
    bad = client.post(
        "/rules/validate",
        content=CROWD_RULE.replace("data.count > 25", "data.count >"),
        headers={"content-type": "text/plain"},
    ).json()
    assert bad["ok"] is False and bad["error"]["line"] == 6


def test_saving_a_rule_writes_it_and_a_bad_save_changes_nothing(client, tmp_path):
    path = tmp_path / "rules" / "large-group.yaml"
    h = {"content-type": "text/plain"}
    bad = client.put("/rules/large-group", content="id: large-group\n", headers=h)
    assert bad.status_code == 422 and "missing 'title'" in bad.json()["detail"]["message"]
    assert path.read_text() == CROWD_RULE
    new = CROWD_RULE.replace("> 25", "> 35")
    r = client.put("/rules/large-group", content=new, headers=h)
    assert r.status_code == 200 and r.json()["text"] == new
    assert path.read_text() == new


def test_preview_shows_what_a_rule_would_have_done_today(client):
    h = {"content-type": "text/plain"}
    strict = client.post("/rules/preview", content=CROWD_RULE.replace("> 25", "> 36"), headers=h)
    p = strict.json()
    assert p["events"] == 5 and p["truncated"] is False
    assert [(a["source"], a["count"], a["value"]) for a in p["alerts"]] == [("cam-007", 1, 40)]
    loose = client.post("/rules/preview", content=CROWD_RULE.replace("> 25", "> 0"), headers=h)
    assert [(a["count"], a["value"]) for a in loose.json()["alerts"]] == [(5, 40)]


def test_rules_list_shows_what_the_ingest_counted_and_its_last_error(client, tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    (rules / "fragile.yaml").write_text(
        "id: fragile\ntitle: Fragile\nseverity: info\npurpose: other\nkinds: [gas.reading]\n"
        "when: data.pressure_kpa < 1.0\n"  # readings without a pressure make it fail
    )
    settings = make_settings(
        tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", rules_dir=rules
    )
    ing = Ingest(settings)
    ing.process([message(make_event("gas.reading", "gas-0100", T0 + timedelta(hours=1)))])
    items = {r["id"]: r for r in client.get("/rules").json()["items"]}
    f = items["fragile"]
    assert (f["evaluations"], f["errors"]) == (1, 1)
    assert "pressure_kpa" in f["last_error"]
    assert items["large-group"]["errors"] == 0
