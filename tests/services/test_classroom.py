"""The classroom's services on a real store (SQLite and PostgreSQL): camera wall with truth,
replay frames, the debrief, the truth file read as it grows, the reset's wipe, jump targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi import HTTPException
from sqlalchemy import func, select

from services.api.routes.classroom import jump_target
from services.classroom.debrief import metrics, render
from services.classroom.replay import frame
from services.classroom.reset import RUN_TABLES, wipe_run_data
from services.classroom.truth import TruthIndex
from services.classroom.wall import camera_wall
from services.store import repo
from services.store.db import make_engine, migrate
from services.store.models import alerts, audit_log, events, heat_rollup, users
from services.transparency import audit
from tests.factories import T0, make_event


@pytest.fixture(params=["sqlite_url", "postgres_url"])
def engine(request):
    url = request.getfixturevalue(request.param)
    migrate(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _store(engine, evs: list[dict]) -> None:
    now = datetime.now(UTC)
    rows = [
        repo.stored_row(e["id"], e["kind"], e["source"], datetime.fromisoformat(e["ts"]),
                        (e.get("geo") or {}).get("lat"), (e.get("geo") or {}).get("lon"),
                        e["data"], now)
        for e in evs
    ]  # fmt: skip
    with engine.begin() as conn:
        repo.insert_new_events(conn, rows)


def _day(engine) -> list[dict]:
    """Two buses moving, crowd counts, two face matches (one true, one false), a weapon."""
    evs = []
    for i in range(20):  # every 30 s for 10 minutes
        ts = T0 + timedelta(seconds=30 * i)
        for bus, lon in (("bus-01", 70.930), ("bus-02", 70.940)):
            evs.append(make_event("vehicle.position", bus, ts, geo=(52.0, lon + 0.0002 * i)))
        evs.append(make_event("camera.crowd", "cam-001", ts, {"count": 10 + i, "window_s": 60}))
    face = {"enrollment_id": "wl-1", "likelihood": 0.91, "watchlist": "wanted"}
    evs.append(make_event("camera.face_match", "cam-001", T0 + timedelta(minutes=5), face))
    act = {"enrollment_id": "wl-9", "likelihood": 0.72, "watchlist": "activist"}
    evs.append(make_event("camera.face_match", "cam-002", T0 + timedelta(minutes=6), act))
    weapon = {"class_type": "weapon", "likelihood": 0.8}
    evs.append(make_event("camera.object", "cam-002", T0 + timedelta(minutes=7), weapon))
    _store(engine, evs)
    return evs


def _truth(tmp_path, evs: list[dict]) -> TruthIndex:
    faces = [e for e in evs if e["kind"] == "camera.face_match"]
    obj = next(e for e in evs if e["kind"] == "camera.object")
    recs = [
        {"id": faces[0]["id"], "kind": "camera.face_match", "true_match": True, "sex": "M",
         "age_group": "30-44"},
        {"id": faces[1]["id"], "kind": "camera.face_match", "true_match": False, "sex": "F",
         "age_group": "18-29"},
        {"id": obj["id"], "kind": "camera.object", "true_object": False},
    ]  # fmt: skip
    path = tmp_path / "truth.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    idx = TruthIndex(path)
    idx.refresh()
    return idx


def test_camera_wall_ranks_cameras_and_marks_truth_and_misuse(engine, tmp_path):
    evs = _day(engine)
    truth = _truth(tmp_path, evs)
    cams = [{"id": "cam-001", "place": "square"}, {"id": "cam-002", "place": "market"},
            {"id": "cam-003", "place": "school"}]  # fmt: skip
    with engine.connect() as conn:
        wall = camera_wall(conn, cams, until=None, window_min=15, truth=truth)
        blind = camera_wall(conn, cams, until=None, window_min=15, truth=None)
        early = camera_wall(conn, cams, until=T0 + timedelta(minutes=2), window_min=15,
                            truth=truth)  # fmt: skip
    tiles = {t["camera"]: t for t in wall["tiles"]}
    assert [t["camera"] for t in wall["tiles"]][:2] == ["cam-002", "cam-001"]  # busiest first
    assert tiles["cam-001"]["count"] == 29 and tiles["cam-001"]["peak"] == 29
    assert tiles["cam-001"]["matches"][0]["true"] is True
    (activist,) = tiles["cam-002"]["matches"]
    assert activist["misuse"] is True and activist["true"] is False
    assert tiles["cam-002"]["objects"][0] == {**tiles["cam-002"]["objects"][0], "true": False}
    assert tiles["cam-003"]["count"] is None and wall["truth"] is True
    assert "true" not in blind["tiles"][0]["matches"][0] and blind["truth"] is False
    assert {t["camera"]: t["count"] for t in early["tiles"]}["cam-001"] == 14  # at 07:32


def test_replay_frame_is_the_town_at_that_time_with_trails(engine):
    _day(engine)
    with engine.begin() as conn:
        conn.execute(alerts.insert().values(
            rule="large-group", dedup_key="cam-001", title="Large group", severity="major",
            state="cleared", kind="camera.crowd", source="cam-001", lat=52.0, lon=70.93,
            value=20, count=3, first_seen=T0 + timedelta(minutes=3),
            last_seen=T0 + timedelta(minutes=9), details={},
        ))  # fmt: skip
    at = T0 + timedelta(minutes=4)
    with engine.connect() as conn:
        f = frame(conn, at, trail_min=2)
        before = frame(conn, T0 + timedelta(minutes=1), trail_min=10)
        live = frame(conn, None, trail_min=10)
    assert [v["source"] for v in f["vehicles"]] == ["bus-01", "bus-02"]
    bus1 = next(t for t in f["trails"] if t["source"] == "bus-01")
    assert len(bus1["points"]) == 5 and bus1["vehicle_type"] == "bus"  # 07:32 to 07:34
    assert datetime.fromisoformat(bus1["points"][-1][2]) == at
    (alert,) = f["alerts"]
    assert alert["state"] == "active" and datetime.fromisoformat(str(alert["last_seen"])) == at
    assert before["alerts"] == [] and before["events"] < f["events"] < live["events"]
    assert live["at"] == live["newest"]


def test_debrief_holds_alerts_reveals_policy_and_truth_metrics(engine, tmp_path):
    evs = _day(engine)
    truth = _truth(tmp_path, evs)
    audit.append(engine, "ms-akhmetova", "teacher", "classroom.pause", "simulator",
                 {"command": "pause"})  # fmt: skip
    audit.append(engine, "analyst", "analyst", "reveal", "ps-1234", {"justification": "x"})
    with engine.begin() as conn:
        conn.execute(alerts.insert().values(
            rule="watchlist-activist", dedup_key="wl-9", title="Activist seen", severity="minor",
            state="acknowledged", kind="camera.face_match", source="cam-002", count=1,
            first_seen=T0, last_seen=T0, details={}, misuse=True, acknowledged_by="analyst",
            acknowledged_at=datetime.now(UTC),
        ))  # fmt: skip
    with engine.connect() as conn:
        m = metrics(conn, truth)
        html = render(conn, active_policy="gdpr-minimal", truth=truth, run_id="r1", by="teacher")
    assert (m["face_matches"], m["matches_true"], m["matches_false"]) == (2, 1, 1)
    assert m["false_by_group"] == {"F 18-29": 1} and m["identifying_events"] >= 2
    for text in ("gdpr-minimal", "Activist seen", "MISUSE demonstration", "analyst at",
                 "ps-1234", "classroom.pause", "1 / 1"):  # fmt: skip
        assert text in html, text
    assert "<script" not in html and "http" not in html.split("<body>")[1]


def test_truth_index_reads_what_was_appended_and_waits_for_a_whole_line(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_bytes(b'{"id":"a","kind":"camera.face_match","true_match":true}\n{"id":"b","ki')
    idx = TruthIndex(path)
    idx.refresh()
    assert idx.get("a") == {"true_match": True} and idx.get("b") is None
    with open(path, "ab") as f:
        f.write(b'nd":"camera.face_match","true_match":false}\n{"id":"i","kind":"incident"}\n')
    idx.refresh()
    assert idx.get("b") == {"true_match": False} and idx.face_matches() == (1, 1)
    assert [r["id"] for r in idx.incidents] == ["i"]
    path.write_bytes(b"")  # a new run rewrote the file
    idx.refresh()
    assert idx.records == {}


def test_reset_wipes_the_run_and_keeps_people_and_the_audit_log(engine):
    _day(engine)
    audit.append(engine, "teacher", "teacher", "classroom.reset", "simulator", {})
    with engine.begin() as conn:
        conn.execute(users.insert().values(username="t", role="teacher", password_hash="x",
                                           created_at=datetime.now(UTC)))  # fmt: skip
    wiped = wipe_run_data(engine)
    assert wiped["heat_rollup"] > 0
    assert wiped["events"] > 0 and set(wiped) == {t.name for t in RUN_TABLES}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 0
        # a heatmap after the reset must not show the old run through its rollups
        assert conn.execute(select(func.count()).select_from(heat_rollup)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(users)).scalar() == 1


def test_jump_targets_are_today_or_an_iso_time():
    now = datetime(2026, 1, 15, 4, 0, tzinfo=UTC)  # 10:00 in Aqkol
    assert jump_target("12:30", now).isoformat() == "2026-01-15T12:30:00+06:00"
    assert jump_target("2026-01-16T08:00+06:00", now).day == 16
    for bad in ("noon", "2026-01-16T08:00"):
        with pytest.raises(HTTPException):
            jump_target(bad, now)


def test_controls_without_a_broker_say_so_and_are_still_audited(tmp_path, sqlite_url):
    from services.api.main import create_app
    from tests.accounts import add_accounts, clients_by_role
    from tests.conftest import make_settings

    migrate(sqlite_url)
    app = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url))  # nothing there
    add_accounts(app.state.engine)
    clients = clients_by_role(app, ("teacher", "student"))
    teacher = clients["teacher"]
    r = teacher.post("/classroom/pause")
    assert r.status_code == 503 and "cannot be reached" in r.json()["detail"]
    state = teacher.get("/classroom/status").json()
    assert state["state"] == "unknown" and state["speeds"] == [1, 10, 60, 600]
    assert teacher.post("/classroom/inject", json={"scenario": "nope"}).status_code == 422
    assert teacher.post("/classroom/speed", json={"value": -1}).status_code == 422
    assert clients["student"].post("/classroom/pause").status_code == 403
    assert clients["student"].get("/classroom/cameras").status_code == 403
    assert clients["student"].get("/classroom/replay").status_code == 200  # the stored town
    with app.state.engine.connect() as conn:
        logged = [e["action"] for e in audit.entries(conn)]
    assert "classroom.pause" in logged
    app.state.classroom_link.close()
