"""Pure parts of the classroom: vehicle trails, camera tiles, the state line, the timeline's
marks, the dilemma cards; and the injected scenario's timing (no browser)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import plotly.utils

from dashboard import camera_wall, classroom, figures
from dashboard.dilemma_views import cards
from services.events.scenarios import load_scenario
from simulator.clock import AQKOL_TZ

AT = "2026-01-15T04:10:00+00:00"


def _rendered(node) -> str:
    return json.dumps(node, cls=plotly.utils.PlotlyJSONEncoder)


def test_trails_fade_with_age_and_go_into_the_map_under_the_vehicles():
    trails = [
        {"source": "bus-01", "vehicle_type": "bus", "points": [
            [52.0, 70.930, "2026-01-15T04:00:00+00:00"],
            [52.0, 70.931, "2026-01-15T04:05:00+00:00"], [52.0, 70.932, AT]]},
        {"source": "bus-02", "vehicle_type": "bus", "points": [[52.0, 70.94, AT]]},  # one point
        {"source": "amb-1", "vehicle_type": "ambulance", "points": [
            [52.001, 70.93, "2026-01-15T04:09:00+00:00"], [52.002, 70.93, AT]]},
    ]  # fmt: skip
    traces = figures.trail_traces(trails, AT, trail_min=10)
    lines = [t for t in traces if t["mode"] == "lines"]
    assert [t["meta"]["vehicle_type"] for t in lines] == ["bus", "ambulance"]  # buses first
    assert lines[0]["meta"]["vehicles"] == 1  # a single point draws no trail
    points = next(t for t in traces if t["mode"] == "markers")
    assert points["marker"]["opacity"] == [0.08, 0.5, 1.0]  # 10, 5 and 0 minutes old
    fig = figures.town_map({}, vehicles={"items": []}, trails=trails, at=AT)
    assert [t.meta["layer"] for t in fig.data if t.meta] == ["trails"] * 4


def test_camera_tiles_show_counts_objects_matches_and_the_truth_only_when_asked():
    wall = {
        "truth": True, "window_min": 15,
        "tiles": [
            {"camera": "cam-002", "place": "square", "count": 41, "objects": [
                {"class_type": "weapon", "likelihood": 0.81, "true": False}],
             "matches": [{"watchlist": "activist", "likelihood": 0.7, "ts": AT, "misuse": True,
                          "true": False}]},
            {"camera": "cam-003", "place": "school", "count": None, "objects": [], "matches": []},
        ],
    }  # fmt: skip
    hidden = _rendered(camera_wall.camera_tiles(wall, show_truth=False))
    shown = _rendered(camera_wall.camera_tiles(wall, show_truth=True))
    assert "41" in hidden and "weapon" in hidden and "81%" in hidden and "70%" in hidden
    assert "MISUSE" in hidden and "false match" not in hidden  # misuse always, truth on request
    assert "false match" in shown and "truth-false" in shown
    assert '"camera-tile busy has-match"' in shown and '"camera-tile"' in shown
    assert len(camera_wall.camera_tiles(wall, True, limit=1)) == 1
    assert "1 of them false" in camera_wall.wall_summary(wall, True)
    assert "false" not in camera_wall.wall_summary(wall, False)
    untrue = {**wall, "truth": False}  # no truth file: nothing to reveal
    assert "false match" not in _rendered(camera_wall.camera_tiles(untrue, True))


def test_state_line_says_what_the_simulator_reports():
    line = classroom.state_text({"state": "jumping", "speed": 60.0, "sim_time": AT,
                                 "jump_to": "2026-01-15T06:00:00+00:00",
                                 "injected": ["protest"], "run_id": "seed1"})  # fmt: skip
    assert line == "jumping ahead · 60× · 10:10:00 · to 12:00:00 · injected: protest · run seed1"
    assert classroom.state_text({"state": "paused", "speed": None}) == "paused · max"
    assert classroom.state_text({}) == "no report from the simulator"


def test_timeline_marks_each_full_hour_in_aqkol_time():
    first = int(datetime(2026, 1, 15, 7, 20, tzinfo=AQKOL_TZ).timestamp())
    newest = int(datetime(2026, 1, 15, 10, 5, tzinfo=AQKOL_TZ).timestamp())
    marks = list(classroom.timeline_marks(first, newest).values())
    assert marks == ["07:20", "08:00", "09:00", "10:05"]  # 10:00 is too close to the end
    assert list(classroom.timeline_marks(first, first + 600).values()) == ["07:20", "07:30"]


def test_dilemma_cards_carry_the_live_figures_and_the_truth_for_the_teacher():
    stats = {"by_kind": {"camera.face_match": 91, "gas.reading": 38783, "access.entry": 282}}
    alerts = [{"rule": "watchlist-activist"}, {"rule": "large-group"}]
    plain = {c.key: c for c in cards(stats, alerts)}
    assert plain["faces"].figure == "91" and plain["gas"].figure == "38,783"
    assert plain["activist"].figure == "1" and "MISUSE" in plain["activist"].counts
    assert "false" not in plain
    teacher = {c.key: c for c in cards(stats, alerts, {"truth": True, "matches_false": 75})}
    assert teacher["false"].figure == "75 / 91" and "teacher only" in teacher["false"].counts


def test_an_injected_scenario_starts_a_minute_from_now_with_its_spacing_kept():
    from simulator.model import Town
    from simulator.publisher import injected_scenario

    first = Town(seed=1, population_scale=0.02, scenario=load_scenario("protest"))
    now = datetime(2026, 1, 15, 9, 41, 30, tzinfo=AQKOL_TZ)
    earlier = now - timedelta(minutes=30)
    plays = [(load_scenario("gas-leak"), earlier), (load_scenario("protest"), now)]
    merged = injected_scenario(first, plays, now)
    starts = [(i.type, i.day, i.at.strftime("%H:%M")) for i in merged.incidents]
    # the run's own protest stays at 12:00; each injected one starts at the next full minute
    # after it was injected, an earlier injection keeping its time
    assert starts == [("protest", 0, "12:00"), ("gas_leak", 0, "09:12"), ("protest", 0, "09:42")]
    later = Town(seed=1, start=now, population_scale=0.02, scenario=merged)
    types = [r["type"] for r in later.incidents(later.t_start + 6 * 3_600_000)]
    assert types == ["protest", "gas_leak", "protest"]


def test_only_a_teacher_gets_the_controls_and_the_truth_toggle():
    import dash
    import flask
    import httpx

    from dashboard.api_client import ApiClient
    from dashboard.app import create_app
    from dashboard.settings import DashboardSettings
    from tests.dashboard.fakes import FakeApi

    settings = DashboardSettings(_env_file=None, api_url="http://api.test", secret_key="s" * 32)
    app = create_app(settings, api=ApiClient(settings.api_url,
                                             transport=httpx.MockTransport(FakeApi())))  # fmt: skip
    pages = {p["path"]: p for p in dash.page_registry.values()}
    for role, sees in (("teacher", True), ("student", False), ("analyst", False)):
        with app.server.test_request_context("/"):
            flask.session.update(token="t", username=role, role=role)
            for path in ("/", "/wall"):
                rendered = _rendered(pages[path]["layout"]())
                assert ('"classroom-pause"' in rendered) is sees, (role, path)
                assert '"classroom-replay"' in rendered  # the replay position is always there
            wall = _rendered(pages["/wall"]["layout"]())
            assert ('"checkbox wall-truth"' in wall) is sees, role
