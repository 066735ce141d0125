"""Across days: walks past midnight stay in the truth, registers agree with who walked."""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from services.events.scenarios import load_scenario, parse_scenario
from services.events.town import AQKOL_TZ
from simulator.clock import DAY_MS
from simulator.model import Town
from simulator.people import SHIFTS, Population
from simulator.truth import write_truth_db

TZ = AQKOL_TZ

LATE = """
name: late-night
incidents:
  - type: protest
    day: 0
    at: "23:10"
    duration_min: 100
    crowd: 300
  - type: missing_child
    day: 0
    at: "23:20"
    route: [market, station, square]
    dwell_min: 20
"""


def ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


@pytest.fixture(scope="module")
def midnight(tmp_path_factory) -> tuple[Town, list[dict], dict[str, dict], Path]:
    """22:00 on day 0 to 02:30 on day 1 of a reduced town with a late gathering."""
    town = Town(
        seed=11,
        start=datetime(2026, 1, 15, 22, 0, tzinfo=TZ),
        population_scale=0.2,
        scenario=parse_scenario(LATE),
        kinds={"camera.crowd", "camera.face_match"},
        fpir=0.05,
    )
    truth: dict[str, dict] = {}
    events = list(town.events(4.5, truth=lambda r: truth.__setitem__(r["id"], r)))
    path = tmp_path_factory.mktemp("midnight") / "truth.sqlite"
    write_truth_db(town, path, 4.5)
    return town, events, truth, path


def test_stays_run_on_across_midnight_without_gaps(midnight) -> None:
    town, _, _, path = midnight
    unix0 = town.clock.unix_ms(0)
    start, end = unix0 + town.t_start, unix0 + town.t_start + round(4.5 * 3_600_000)
    mid = unix0 + DAY_MS
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT resident, place, kind, t_from_ms, t_to_ms FROM stays"
            " ORDER BY resident, t_from_ms"
        ).fetchall()
    finally:
        db.close()
    by_res: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        by_res[r[0]].append(r)
    assert len(by_res) == len(town.population)
    for seq in by_res.values():  # each resident's stays tile the run: no gap, no overlap
        assert seq[0][3] == start and seq[-1][4] == end
        for a, b in itertools.pairwise(seq):
            assert a[4] == b[3] and b[4] > b[3]

    # those out at midnight (the gathering, the child's walk) are out just after it too
    plan = town.plan(0)
    legs = plan.legs
    out_walking = set(legs.person[(legs.t0 < DAY_MS) & (legs.t1 > DAY_MS)].tolist())
    out_at = set(
        plan.visit_person[(plan.visit_arrive < DAY_MS) & (plan.visit_leave > DAY_MS)].tolist()
    )
    crossing = out_walking | out_at
    assert len(out_at) > 50 and out_walking  # the gathering runs past midnight, walks cross it
    for p in crossing:
        seq = by_res[Population.id(p)]
        after = next(s for s in seq if s[3] <= mid < s[4])
        before = next(s for s in seq if s[3] < mid <= s[4])
        assert after[2] != "home" and before[2] != "home", (p, before, after)
        assert after[1] == before[1]  # the same walk or place on both sides
    # and everyone is home again once the walks are over
    for p in crossing:
        assert by_res[Population.id(p)][-1][2] == "home"
    # the missing child is somewhere on the route after midnight, not at home
    child = Population.id(town._watchlisted("missing")[0])
    places_after = {s[1] for s in by_res[child] if s[3] >= mid}
    assert places_after & {"market", "station", "square", "street"}


def test_cameras_see_the_walks_past_midnight(midnight) -> None:
    town, events, truth, path = midnight
    mid = town.clock.unix_ms(0) + DAY_MS
    ts = [ms(e["ts"]) for e in events]
    assert ts == sorted(ts)  # one stream in time order across the day boundary
    square = {c.id for c in town.map.cameras if c.place == "square"}
    after = [
        truth[e["id"]]["true_count"]
        for e in events
        if e["kind"] == "camera.crowd"
        and e["source"] in square
        and mid + 5 * 60_000 <= ms(e["ts"]) < mid + 20 * 60_000
    ]
    assert after and max(after) > 20  # the crowd on the square is still counted after midnight
    db = sqlite3.connect(path)
    try:
        n_after = db.execute("SELECT count(*) FROM sightings WHERE ts_ms >= ?", (mid,)).fetchone()
    finally:
        db.close()
    assert n_after[0] > 50  # walks home after midnight pass cameras, in the truth too
    for e in events:  # and every face capture is a sighting, on either side of midnight
        if e["kind"] != "camera.face_match":
            continue
        rec = truth[e["id"]]
        t = ms(e["ts"])
        db = sqlite3.connect(path)
        try:
            hit = db.execute(
                "SELECT 1 FROM sightings WHERE camera = ? AND resident = ?"
                " AND ts_ms BETWEEN ? AND ?",
                (e["source"], rec["resident"], t - 2500, t - 300),
            ).fetchone()
        finally:
            db.close()
        assert hit


def test_registers_agree_with_who_the_walking_model_sends_to_school(tmp_path: Path) -> None:
    """A Thursday with the missing-child scenario: each class's register counts exactly the
    pupils with a school stay in the class's shift; the absent ones are at home all day."""
    town = Town(
        seed=2,
        start=datetime(2026, 1, 15, 0, 0, tzinfo=TZ),
        population_scale=0.35,
        scenario=load_scenario("missing-child"),
        kinds={"school.attendance"},
    )
    truth: dict[str, dict] = {}
    events = list(town.events(24, truth=lambda r: truth.__setitem__(r["id"], r)))
    path = tmp_path / "truth.sqlite"
    write_truth_db(town, path, 24)
    db = sqlite3.connect(path)
    try:
        stays: dict[str, list[tuple]] = defaultdict(list)
        for r in db.execute("SELECT resident, place, kind, t_from_ms, t_to_ms FROM stays"):
            stays[r[0]].append(r[1:])
    finally:
        db.close()
    unix0 = town.clock.unix_ms(0)
    sch = town.schools
    classes = {cid: (school, rows, sch.class_shift[k]) for k, (school, cid, _, rows) in
               enumerate(sch.classes)}  # fmt: skip
    assert len(events) == len(classes) > 30
    assert {s for _, _, s in classes.values()} == {0, 1}  # both shifts
    child = Population.id(town._watchlisted("missing")[0])
    child_absent = False
    n_absent = 0
    for e in events:
        d = e["data"]
        school, rows, shift = classes[d["class_id"]]
        a, b = (unix0 + t for t in SHIFTS[shift])
        residents = [Population.id(int(town.schools.pupils[i])) for i in rows]
        absent = set(truth[e["id"]]["absent_residents"])
        assert absent <= set(residents) and len(absent) == d["absent"]
        assert d["present"] == len(residents) - len(absent)
        for r in residents:
            at_school = [
                s for s in stays[r] if s[0] == school and s[1] == "school" and s[2] < b and s[3] > a
            ]
            if r in absent:
                assert not at_school, r
                if r != child:  # kept home (the missing child wanders off instead)
                    assert {s[1] for s in stays[r]} == {"home"}, r
            else:
                assert at_school, f"{r} is on the register of {d['class_id']} but not at school"
        n_absent += len(absent)
        child_absent |= child in absent
    assert n_absent > 20
    assert child_absent  # the missing child is not in class, and the register says so
