"""Cameras see only their field of view: range and angle, for sightings, faces and crowds."""

from __future__ import annotations

import dataclasses
import itertools
import math
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from services.events.town import AQKOL_TZ
from simulator.cameras import CameraSystem
from simulator.geography import Camera, build_town
from simulator.model import Town
from simulator.people import DayPlan, camera_passes, view_intervals
from simulator.truth import write_truth_db

TZ = AQKOL_TZ
MIN = 60_000


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 1, 15, h, m, tzinfo=TZ)


def cam(heading: float, fov: float, r: float = 20.0, x: float = 0.0, y: float = 0.0) -> Camera:
    return Camera("cam-x", x, y, "x", "intersection", True, r, 0.7, heading, fov)


def seg(ax: float, ay: float, bx: float, by: float) -> tuple[np.ndarray, np.ndarray]:
    p0 = np.array([[ax, ay]], dtype=float)
    return p0, np.array([[bx, by]], dtype=float) - p0


def test_view_is_the_sector_within_range_and_half_the_angle_of_the_heading() -> None:
    # looking north with 90 degrees: a walk west to east 10 m north is in view for |x| <= 10
    lo, hi, ok = view_intervals(*seg(-30, 10, 30, 10), cam(0, 90))
    assert ok[0] and lo[0] == pytest.approx(20 / 60) and hi[0] == pytest.approx(40 / 60)
    # the same walk south of the camera is behind it
    assert not view_intervals(*seg(-30, -10, 30, -10), cam(0, 90))[2][0]
    # a dome sees it, out to the range: x^2 + 10^2 <= 20^2
    lo, hi, ok = view_intervals(*seg(-30, -10, 30, -10), cam(0, 360))
    half = math.sqrt(300) / 60
    assert ok[0] and lo[0] == pytest.approx(0.5 - half) and hi[0] == pytest.approx(0.5 + half)
    # looking east: a walk north 5 m east of the camera, seen between y = -5 and 5
    lo, hi, ok = view_intervals(*seg(5, -30, 5, 30), cam(90, 90))
    assert ok[0] and lo[0] == pytest.approx(25 / 60) and hi[0] == pytest.approx(35 / 60)
    # out of range, or across the apex only (looking the other way): not seen
    assert not view_intervals(*seg(-30, 25, 30, 25), cam(0, 90))[2][0]
    assert not view_intervals(*seg(-30, 0, 30, 0), cam(0, 90))[2][0]
    # a wide lens (200 degrees) sees the street it stands on, both ways, not behind it
    assert view_intervals(*seg(-30, 0, 30, 0), cam(0, 200))[2][0]
    assert not view_intervals(*seg(-30, -15, 30, -15), cam(0, 200))[2][0]
    # more than 180 degrees: a walk seen on both sides of the blind wedge behind
    assert view_intervals(*seg(-30, -10, 30, -10), cam(0, 270))[2][0]


def position(plan: DayPlan, person: int, t: int) -> tuple[float, float]:
    """Where ``person`` was at ``t`` on their walk, from the plan."""
    legs = plan.legs
    k = np.flatnonzero((legs.person == person) & (legs.t0 <= t) & (t <= legs.t1))
    assert len(k), f"res {person} was not walking at {t}"
    k = int(k[0])
    along = (t - legs.t0[k]) / 1000 * legs.speed[k]
    pts = legs.paths[k]
    for a, b in itertools.pairwise(pts):
        step = math.dist(a, b)
        if along <= step or (step == 0 and along <= 1e-9):
            f = along / step if step else 0.0
            return float(a[0] + f * (b[0] - a[0])), float(a[1] + f * (b[1] - a[1]))
        along -= step
    return float(pts[-1][0]), float(pts[-1][1])


def in_sector(c: Camera, x: float, y: float, slack_m: float = 0.05) -> bool:
    d = math.hypot(x - c.x, y - c.y)
    if d > c.range_m + slack_m:
        return False
    if d < slack_m or c.fov_deg >= 360:
        return True
    bearing = math.degrees(math.atan2(x - c.x, y - c.y)) % 360
    off = abs((bearing - c.heading_deg + 180) % 360 - 180)
    return off <= c.fov_deg / 2 + math.degrees(slack_m / d)


def narrowed(fov: float = 90.0) -> list[Camera]:
    """The town's cameras with every intersection and stop dome narrowed to ``fov``."""
    return [
        c if c.site == "place" else dataclasses.replace(c, fov_deg=fov)
        for c in build_town().cameras
    ]


def test_passes_are_only_those_in_the_field_of_view() -> None:
    town = Town(seed=4, population_scale=0.3)
    plan = town.plan(0)
    cameras = build_town().cameras
    n_pass = np.bincount(camera_passes(plan, cameras, [-2] * 150).camera, minlength=150)
    n_pass[[c.site == "place" for c in cameras]] = 0
    busiest = cameras[int(n_pass.argmax())]  # a dome at a crossing: people come four ways
    dome = dataclasses.replace(busiest, fov_deg=360.0)
    quarters = [
        dataclasses.replace(busiest, heading_deg=h, fov_deg=90.0) for h in (0, 90, 180, 270)
    ]
    ps = camera_passes(plan, [dome, *quarters], [-2] * 5)
    n_dome = int((ps.camera == 0).sum())
    assert n_dome > 200
    for ci, c in enumerate(quarters, start=1):
        sel = np.flatnonzero(ps.camera == ci)
        assert 0 < len(sel) < n_dome  # a quarter of the view sees fewer people
        for j in sel[:400]:
            x, y = position(plan, int(ps.person[j]), int(ps.t_pass[j]))
            assert in_sector(c, x, y), (c.heading_deg, x - c.x, y - c.y)
            assert ps.t_in[j] <= ps.t_pass[j] <= ps.t_out[j]
    # everyone a quarter sees, the dome sees; together the quarters see almost everyone
    dome_people = set(ps.person[ps.camera == 0].tolist())
    quarter_people = set(ps.person[ps.camera > 0].tolist())
    assert quarter_people <= dome_people
    assert len(quarter_people) >= 0.95 * len(dome_people)


@pytest.fixture(scope="module")
def narrow_run(tmp_path_factory) -> tuple[Town, list[dict], dict[str, dict], Path]:
    """Two hours of a town whose street cameras look one way only (90 degrees)."""
    tmap = dataclasses.replace(build_town(), cameras=narrowed(90.0))
    town = Town(
        seed=8,
        start=at(7, 30),
        population_scale=0.3,
        town_map=tmap,
        kinds={"camera.face_match", "camera.crowd"},
        fpir=0.05,
    )
    truth: dict[str, dict] = {}
    events = list(town.events(2.0, truth=lambda r: truth.__setitem__(r["id"], r)))
    path = tmp_path_factory.mktemp("fov") / "truth.sqlite"
    write_truth_db(town, path, 2.0)
    return town, events, truth, path


def test_truth_sightings_lie_in_the_field_of_view(narrow_run) -> None:
    town, _, _, path = narrow_run
    cams = {c.id: c for c in town.map.cameras}
    unix0 = town.clock.unix_ms(0)
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT camera, resident, ts_ms FROM sightings").fetchall()
        fovs = dict(db.execute("SELECT id, fov_deg FROM cameras"))
    finally:
        db.close()
    assert fovs == {c.id: c.fov_deg for c in town.map.cameras}
    narrow = [r for r in rows if cams[r[0]].fov_deg == 90.0]
    assert len(narrow) > 500
    plan = town.plan(0)
    for camera, resident, ts_ms in narrow[::5]:
        x, y = position(plan, int(resident[4:]) - 1, ts_ms - unix0)
        assert in_sector(cams[camera], x, y), (camera, resident)
    # and fewer than a dome would see: the field of view is applied
    domes = dataclasses.replace(town.map, cameras=build_town().cameras)
    n_dome = len(camera_passes(plan, domes.cameras, [-2] * 150).camera)
    n_narrow = len(camera_passes(plan, town.map.cameras, [-2] * 150).camera)
    assert n_narrow < 0.8 * n_dome


def test_every_face_capture_is_an_in_view_sighting(narrow_run) -> None:
    _, events, truth, path = narrow_run
    faces = [e for e in events if e["kind"] == "camera.face_match"]
    assert len(faces) > 30
    db = sqlite3.connect(path)
    try:
        for e in faces:
            rec = truth[e["id"]]
            assert {"resident", "household", "true_match", "sex", "age_group"} <= set(rec)
            ts_ms = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            hit = db.execute(
                "SELECT 1 FROM sightings WHERE camera = ? AND resident = ?"
                " AND ts_ms BETWEEN ? AND ?",
                (e["source"], rec["resident"], ts_ms - 2500, ts_ms - 300),
            ).fetchone()
            assert hit, f"{rec['resident']} was not in view of {e['source']} at {e['ts']}"
    finally:
        db.close()


def test_crowd_counts_count_the_people_in_view(narrow_run) -> None:
    """The true count of a camera-minute is the number of in-view sightings then (people
    stay counted for at most six minutes), for every camera that only watches the street."""
    town, events, truth, path = narrow_run
    cams = CameraSystem(
        town.map, town.population, town.watchlist, town.recognition, town.plan, town._ss["cameras"]
    )
    street = {c.id for c, inside in zip(town.map.cameras, cams.inside_place, strict=True)
              if inside < 0}  # fmt: skip
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT camera, t_in_ms, t_out_ms FROM sightings").fetchall()
    finally:
        db.close()
    covered: dict[tuple[str, int], int] = {}
    for camera, t_in, t_out in rows:
        m_a = t_in // MIN
        m_b = min(t_out // MIN, m_a + 5)
        for m in range(m_a, m_b + 1):
            covered[camera, m] = covered.get((camera, m), 0) + 1
    t0 = round(at(7, 45).timestamp() * 1000) // MIN
    t1 = round(at(9, 15).timestamp() * 1000) // MIN
    checked = busy = 0
    for e in events:
        if e["kind"] != "camera.crowd" or e["source"] not in street:
            continue
        m = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000) // MIN - 1
        if not t0 <= m < t1:
            continue
        true_count = truth[e["id"]]["true_count"]
        assert true_count == covered.get((e["source"], m), 0), (e["source"], e["ts"])
        checked += 1
        busy += true_count > 0
    assert checked > 5000 and busy > 500
