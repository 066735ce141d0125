"""Ground truth in truth.sqlite, and face recognition measured against its configured rates."""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from services.events.town import AQKOL_TZ
from simulator.cameras import CameraSystem
from simulator.faces import Enrollment, Recognition
from simulator.geography import build_town, camera_quality
from simulator.model import Town
from simulator.people import camera_passes
from simulator.truth import stays_at, write_truth_db

TZ = AQKOL_TZ
Z = 3.29  # two-sided 99.9 % normal quantile: a binomial count within Z standard deviations


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 1, 15, h, m, tzinfo=TZ)


def within_binomial_ci(k: int, n: int, p: float) -> bool:
    return abs(k - n * p) <= Z * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Town, list[dict], dict[str, dict], Path]:
    """Three hours of face matches (FPIR inflated so there are plenty) and their truth."""
    town = Town(seed=6, start=at(7), population_scale=0.4, kinds={"camera.face_match"}, fpir=0.03)
    truth: dict[str, dict] = {}
    events = list(town.events(3.0, truth=lambda r: truth.__setitem__(r["id"], r)))
    path = tmp_path_factory.mktemp("truth") / "truth.sqlite"
    write_truth_db(town, path, 3.0)
    return town, events, truth, path


def test_truth_db_holds_residents_households_and_gapless_stays(run) -> None:
    town, _, _, path = run
    db = sqlite3.connect(path)
    try:
        n_res = db.execute("SELECT count(*) FROM residents").fetchone()[0]
        assert n_res == len(town.population)
        n_hh, classes = db.execute(
            "SELECT count(*), count(DISTINCT insulation_class) FROM households"
        ).fetchone()
        assert n_hh == len(town.household_rows) and classes >= 3
        name, day_place = db.execute(
            "SELECT name, day_place FROM residents WHERE role = 'pupil' LIMIT 1"
        ).fetchone()
        assert len(name.split()) >= 2 and day_place.startswith("school")
        # every resident's stays cover the three hours without gaps or overlaps
        span = 3 * 3_600_000
        total = dict(db.execute("SELECT resident, sum(t_to_ms - t_from_ms) FROM stays GROUP BY 1"))
        assert len(total) == n_res and set(total.values()) == {span}
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM stays")}
        assert {"home", "street", "school", "work"} <= kinds
        at_school = db.execute(
            "SELECT count(DISTINCT resident) FROM stays WHERE kind = 'school'"
        ).fetchone()[0]
        assert at_school > 200
    finally:
        db.close()


def test_every_face_match_is_a_true_sighting_of_that_resident(run) -> None:
    _, events, truth, path = run
    assert len(events) > 50
    db = sqlite3.connect(path)
    try:
        n_true = n_false = 0
        for e in events:
            rec = truth[e["id"]]
            ts_ms = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            hits = db.execute(
                "SELECT ts_ms FROM sightings WHERE camera = ? AND resident = ?"
                " AND ts_ms BETWEEN ? AND ?",
                (e["source"], rec["resident"], ts_ms - 2500, ts_ms - 300),
            ).fetchall()
            assert hits, f"{e['id']}: {rec['resident']} never passed {e['source']} then"
            assert stays_at(path, rec["resident"], hits[0][0])  # and was somewhere, in truth
            if rec["true_match"]:
                n_true += 1
                assert rec["enrolled_resident"] == rec["resident"]
            else:
                n_false += 1
                assert rec["enrolled_resident"] != rec["resident"]
        assert n_false > 20
    finally:
        db.close()


def test_false_positive_rate_per_capture_matches_the_configured_fpir_per_group() -> None:
    """Every pass of a recognition camera is one capture (capture_rate 1): the false matches
    per capture lie in a binomial confidence interval of the configured rate, for women and
    men separately, and women's rate is the configured multiple of men's."""
    town = Town(seed=9, population_scale=0.5)
    rec = Recognition(fpir=0.02, female_fp_ratio=3.0, capture_rate=1.0)
    cams = CameraSystem(
        town.map, town.population, town.watchlist, rec, town.plan, town._ss["cameras"]
    )
    ev = cams.day_events(0)
    face = ev.typ == 1
    false_person = ev.b[face & (ev.c == 0)]
    passes = camera_passes(town.plan(0), town.map.cameras, cams.gate_place)
    searched = passes.person[cams.face_cam[passes.camera]]
    enrolled = cams.enrolled >= 0
    searched = searched[~enrolled[searched]]  # watch-listed people can also match themselves
    false_person = false_person[~enrolled[false_person]]
    fmr = rec.false_match_rate(town.population)
    sex = town.population.sex
    rates = {}
    for s in (0, 1):
        who = searched[sex[searched] == s]
        n, k = len(who), int((sex[false_person] == s).sum())
        p = float(fmr[who].mean())
        assert n > 10_000
        assert within_binomial_ci(k, n, p), (s, k, n, p)
        rates[s] = k / n
    n, k = len(searched), len(false_person)
    assert within_binomial_ci(k, n, float(fmr[searched].mean()))
    assert 0.015 < k / n < 0.027  # about the configured FPIR
    assert 2.3 < rates[1] / rates[0] < 3.9  # the per-group multiplier shows


def test_miss_rate_depends_on_camera_image_quality() -> None:
    town = build_town()
    quality = np.array([c.quality for c in town.cameras])
    assert quality.min() >= 0 and quality.max() <= 1 and quality.std() > 0.2
    assert [camera_quality(c.id) for c in town.cameras] == quality.tolist()  # fixed per camera
    rec = Recognition()
    assert rec.miss_rate(1.0) == pytest.approx(0.05) and rec.miss_rate(0.0) == pytest.approx(0.4)

    # enrol every third resident, search every pass: hits per pass = 1 - miss rate
    t = Town(seed=12, population_scale=0.4)
    pop = t.population
    wl = [
        Enrollment(f"wl-{i:05d}", "X Y", "wanted", int(i), int(pop.sex[i]), "18-64")
        for i in range(0, len(pop), 3)
    ]
    rec = Recognition(fpir=0.0, capture_rate=1.0)
    cams = CameraSystem(t.map, pop, wl, rec, t.plan, t._ss["cameras"])
    ev = cams.day_events(0)
    hits = defaultdict(int)
    for cam in ev.cam[(ev.typ == 1) & (ev.c == 1)]:
        hits[int(cam)] += 1
    passes = camera_passes(t.plan(0), t.map.cameras, cams.gate_place)
    sel = cams.face_cam[passes.camera] & (cams.enrolled[passes.person] >= 0)
    n_pass = np.bincount(passes.camera[sel], minlength=len(t.map.cameras))
    miss = rec.miss_rate(quality)
    for band in ((0.0, 0.35), (0.65, 1.0)):
        in_band = (quality >= band[0]) & (quality < band[1]) & (n_pass > 0)
        n = int(n_pass[in_band].sum())
        k = sum(hits[int(c)] for c in np.flatnonzero(in_band))
        p = float((n_pass[in_band] * (1 - miss[in_band])).sum() / n)
        assert n > 300 and within_binomial_ci(k, n, p), (band, k, n, p)
    low = quality < 0.35
    high = quality >= 0.65
    hit_low = sum(hits[int(c)] for c in np.flatnonzero(low)) / n_pass[low].sum()
    hit_high = sum(hits[int(c)] for c in np.flatnonzero(high)) / n_pass[high].sum()
    assert hit_high - hit_low > 0.1


def test_cameras_have_a_fixed_field_of_view_in_the_map_and_the_truth(run) -> None:
    town, _, _, path = run
    doc = build_town().to_json()
    assert len(doc["cameras"]) == 150
    for c in doc["cameras"]:
        assert 0 <= c["heading_deg"] < 360 and 0 < c["fov_deg"] <= 360 and c["range_m"] > 0
    gates = [c for c in doc["cameras"] if c["site"] == "place" and c["fov_deg"] < 360]
    assert gates and {round(c["heading_deg"]) for c in doc["cameras"]} != {0}
    # deterministic: the same map gives the same fields of view
    assert [(c.heading_deg, c.fov_deg) for c in build_town().cameras] == [
        (c["heading_deg"], c["fov_deg"]) for c in doc["cameras"]
    ]
    # an entrance camera looks out from its building over the street
    places = {p["id"]: p for p in doc["places"]}
    for c in gates:
        p = places[c["place"]]
        if (c["x"], c["y"]) == (p["x"], p["y"]):
            continue  # an overview camera inside the market or the square
        out = math.degrees(math.atan2(c["x"] - p["x"], c["y"] - p["y"])) % 360
        assert abs((c["heading_deg"] - out + 180) % 360 - 180) < 0.1
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT id, heading_deg, fov_deg, range_m FROM cameras").fetchall()
        sighted = {r for (r,) in db.execute("SELECT DISTINCT camera FROM sightings")}
    finally:
        db.close()
    assert rows == [(c.id, c.heading_deg, c.fov_deg, c.range_m) for c in town.map.cameras]
    assert sighted <= {r[0] for r in rows}


def test_hospital_visits_are_stays_in_the_truth(run) -> None:
    _, _, _, path = run
    db = sqlite3.connect(path)
    try:
        visits = db.execute(
            "SELECT r.role, s.t_from_ms, s.t_to_ms FROM stays s JOIN residents r"
            " ON r.id = s.resident WHERE s.place = 'hospital' AND s.kind = 'hospital'"
        ).fetchall()
        staff = db.execute(
            "SELECT count(*) FROM stays WHERE place = 'hospital' AND kind = 'work'"
        ).fetchone()[0]
    finally:
        db.close()
    assert len(visits) > 10 and staff > 10  # patients (not the staff who work there)
    assert all(t1 > t0 for _, t0, t1 in visits)
