"""The seeded town: determinism, the contract, and plausibility of what it produces."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import orjson
import pytest
from ulid import ULID

from services.events import decode, topic_for
from services.events.geo import to_xy
from services.events.town import AQKOL_TZ
from simulator.faces import WATCHLIST_SIZES
from simulator.geography import build_town
from simulator.model import Town
from simulator.people import camera_passes

TZ = AQKOL_TZ


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 1, 15, h, m, tzinfo=TZ)


def collect(town: Town, hours: float) -> tuple[list[dict], dict[str, dict]]:
    truth: dict[str, dict] = {}
    events = list(town.events(hours, truth=lambda r: truth.__setitem__(r["id"], r)))
    return events, truth


@pytest.fixture(scope="module")
def first_hour() -> tuple[list[dict], dict[str, dict]]:
    """The whole town, 06:30-07:30 on the default day."""
    return collect(Town(seed=1), 1.0)


def test_same_seed_gives_byte_identical_events_and_truth() -> None:
    a, ta = collect(Town(seed=7, population_scale=0.5), 0.5)
    b, tb = collect(Town(seed=7, population_scale=0.5), 0.5)
    assert len(a) > 1000
    assert orjson.dumps(a) == orjson.dumps(b)
    assert orjson.dumps(ta) == orjson.dumps(tb)


def test_different_seed_gives_different_events() -> None:
    a, _ = collect(Town(seed=7, population_scale=0.5), 0.25)
    b, _ = collect(Town(seed=8, population_scale=0.5), 0.25)
    assert [e["id"] for e in a[:100]] != [e["id"] for e in b[:100]]
    assert [e["data"] for e in a] != [e["data"] for e in b]


def test_a_longer_run_starts_with_the_shorter_one() -> None:
    short, _ = collect(Town(seed=3, population_scale=0.3), 0.25)
    long, _ = collect(Town(seed=3, population_scale=0.3), 0.5)
    assert orjson.dumps(long[: len(short)]) == orjson.dumps(short)


def test_subsystems_draw_from_their_own_streams() -> None:
    """Leaving out every other kind changes neither the gas readings nor their ids."""
    full, _ = collect(Town(seed=5, population_scale=0.3), 0.6)
    gas_only, _ = collect(Town(seed=5, population_scale=0.3, kinds={"gas.reading"}), 0.6)
    assert gas_only == [e for e in full if e["kind"] == "gas.reading"]


def test_every_event_passes_the_contract(first_hour) -> None:
    events, _ = first_hour
    ids = set()
    for e in events:
        payload = orjson.dumps(e)
        decoded = decode(payload, topic_for(e["kind"], e["source"]))
        assert orjson.loads(payload) == e  # plain JSON types only (no numpy scalars)
        ulid_ms = ULID.from_str(e["id"]).milliseconds
        assert ulid_ms == round(decoded.ts.timestamp() * 1000)
        ids.add(e["id"])
    assert len(ids) == len(events)
    assert {e["kind"] for e in events} >= {"env.reading", "gas.reading", "vehicle.position"}


def test_events_are_in_time_order(first_hour) -> None:
    events, _ = first_hour
    ts = [datetime.fromisoformat(e["ts"]) for e in events]
    assert all(a <= b for a, b in itertools.pairwise(ts))
    assert ts[0] >= at(6, 30) and ts[-1] < at(7, 30)
    assert all(t.utcoffset() == timedelta(hours=6) for t in ts[:50])


def test_full_town_volume_per_hour(first_hour) -> None:
    events, truth = first_hour
    kinds = Counter(e["kind"] for e in events)
    cams = len(build_town().cameras)
    assert kinds["camera.crowd"] == cams * 60
    assert 6000 < kinds["gas.reading"] < 8000  # ~3,600 meters, every 30 min, a few missed
    assert kinds["env.reading"] == 10 * 12
    assert 1000 < kinds["vehicle.position"] < 2500
    gas = next(e for e in events if e["kind"] == "gas.reading")
    assert gas["data"]["interval_min"] == 30 and gas["source"].startswith("gas-")
    assert "occupants_home" in truth[gas["id"]]
    assert "occupants_home" not in gas["data"]  # ground truth stays out of events


def _gas_total(**kw) -> float:
    events, _ = collect(Town(seed=11, population_scale=0.3, kinds={"gas.reading"}, **kw), 1.0)
    return sum(e["data"]["m3"] for e in events)


def test_gas_use_is_higher_when_colder() -> None:
    assert _gas_total(temperature_offset_c=-10) > 1.2 * _gas_total()


def test_gas_use_peaks_at_cooking_times_and_drops_at_night() -> None:
    hh = build_town().households

    def cooking_only_mean(start: datetime) -> float:
        town = Town(seed=11, population_scale=0.3, kinds={"gas.reading"}, start=start)
        events, _ = collect(town, 1.0)
        m3 = [
            e["data"]["m3"]
            for e in events
            if hh.heating[int(e["data"]["household"][3:]) - 1] != 0  # no gas boiler
        ]
        assert len(m3) > 300
        return float(np.mean(m3))

    night = cooking_only_mean(at(2))
    evening = cooking_only_mean(at(18, 30))
    morning = cooking_only_mean(at(6, 40))
    assert evening > 5 * max(night, 0.005)
    assert morning > 3 * max(night, 0.005)
    assert night < 0.01


def _dist_to_path(x: float, y: float, path) -> float:
    best = math.inf
    for (ax, ay), (bx, by) in itertools.pairwise(path):
        dx, dy = bx - ax, by - ay
        u = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(ax + u * dx - x, ay + u * dy - y))
    return best


def test_buses_move_along_their_routes(first_hour) -> None:
    events, _ = first_hour
    routes = {r.id: r for r in build_town().routes}
    by_bus: dict[str, list[dict]] = {}
    for e in events:
        if e["kind"] == "vehicle.position" and e["data"]["vehicle_type"] == "bus":
            by_bus.setdefault(e["source"], []).append(e)
    assert len(by_bus) >= 4
    for bus in by_bus.values():
        assert len(bus) > 150  # every 15 +- 3 s
        prev = None
        for e in bus:
            d = e["data"]
            x, y = to_xy(e["geo"]["lat"], e["geo"]["lon"])
            assert _dist_to_path(x, y, routes[d["route_id"]].path) < 15
            assert d["stop_id"] in routes[d["route_id"]].stops
            assert d["trip_id"].startswith(d["route_id"])
            t = datetime.fromisoformat(e["ts"])
            if prev is not None:
                gap = (t - prev[0]).total_seconds()
                assert 11.9 <= gap <= 18.1
                assert math.dist((x, y), prev[1]) < 20 * gap + 15
            prev = (t, (x, y))
        assert {e["data"]["current_status"] for e in bus} >= {"STOPPED_AT", "IN_TRANSIT_TO"}
    service = {e["source"] for e in events if e["kind"] == "vehicle.position"} - set(by_bus)
    assert service  # garbage trucks or the snow plough are out too


def test_school_gates_crowd_over_25_in_the_morning_rush() -> None:
    town = Town(seed=1, start=at(7), kinds={"camera.crowd"})
    events, truth = collect(town, 1.25)
    gates = {c.id for c in town.map.cameras if c.place.startswith("school-") and c.site == "place"}
    assert len(gates) == 3
    peak = [
        e["data"]["count"]
        for e in events
        if e["source"] in gates and at(7, 45) <= datetime.fromisoformat(e["ts"]) <= at(8, 15)
    ]
    assert max(peak) > 25
    first_alert = min(datetime.fromisoformat(e["ts"]) for e in events if e["data"]["count"] > 25)
    assert first_alert < at(8)  # the starter "crowd over 25" rule fires in the first hour
    quiet = [e["data"]["count"] for e in events if e["source"] in gates][:5]  # 07:00
    assert max(quiet) < 25
    assert all("true_count" in truth[e["id"]] for e in events[:100])


def test_face_matches_true_and_false_with_more_false_matches_for_women() -> None:
    town = Town(seed=2, start=at(7), kinds={"camera.face_match"}, fpir=0.03)
    events, truth = collect(town, 13.0)
    recs = [truth[e["id"]] for e in events]
    true = [r for r in recs if r["true_match"]]
    false = [r for r in recs if not r["true_match"]]
    assert true and false
    like_true = [e["data"]["likelihood"] for e in events if truth[e["id"]]["true_match"]]
    like_false = [e["data"]["likelihood"] for e in events if not truth[e["id"]]["true_match"]]
    assert min(like_true) >= 0.8 and max(like_false) <= 0.8
    assert all(r["enrolled_resident"] == r["resident"] for r in true)
    # false-match rate per search, by sex: searches = passes of recognition cameras
    passes = camera_passes(town.plan(0), town.map.cameras, [-2] * len(town.map.cameras))
    face = np.array([c.face for c in town.map.cameras])[passes.camera]
    in_run = (passes.t_pass >= 7 * 3_600_000) & face
    sex = town.population.sex[passes.person[in_run]]
    searches = {"M": int((sex == 0).sum()), "F": int((sex == 1).sum())}
    fm = Counter(r["sex"] for r in false)
    rate_f, rate_m = fm["F"] / searches["F"], fm["M"] / searches["M"]
    assert rate_f > 1.8 * rate_m
    lists = {e["data"]["watchlist"] for e in events}
    assert lists <= set(WATCHLIST_SIZES) and "activist" in lists


def test_watchlist_names_and_labels() -> None:
    town = Town(seed=4, population_scale=0.5)
    wl = town.watchlist
    assert len(wl) == sum(n for n, _ in WATCHLIST_SIZES.values())
    assert len({e.id for e in wl}) == len(wl)
    assert all(len(e.name.split()) == 2 for e in wl)
    assert {e.watchlist for e in wl} == {"wanted", "missing", "activist"}
    assert any(e.resident is not None for e in wl if e.watchlist == "activist")
    assert [e.name for e in wl] == [e.name for e in Town(seed=4, population_scale=0.5).watchlist]


def test_town_map_json() -> None:
    town = build_town()
    assert build_town() is town  # cached
    doc = town.to_json()
    raw = orjson.dumps(doc)
    assert len(raw) < 1_500_000
    assert set(doc) >= {
        "origin",
        "lake",
        "streets",
        "buildings",
        "places",
        "stops",
        "routes",
        "cameras",
    }
    lake_west = min(x for x, _ in doc["lake"])
    assert all(x < lake_west for b in doc["buildings"] for x, _ in b["polygon"])
    kinds = Counter(p["kind"] for p in doc["places"])
    assert kinds["school"] >= 3 and kinds["hospital"] and kinds["akimat"] and kinds["market"]
    assert kinds["square"] == 1
    assert 8 <= len(doc["stops"]) <= 14 and 2 <= len(doc["routes"]) <= 3
    assert 140 <= len(doc["cameras"]) <= 160
    assert len({c["id"] for c in doc["cameras"]}) == len(doc["cameras"])
    assert any(s["name"] == "Abay avenue" for s in doc["streets"])
    hh = town.households
    assert 3500 <= len(hh) <= 4500 and 11_000 <= hh.residents.sum() <= 15_000
    assert 0.8 < hh.gas_meter.mean() < 0.98
    assert 0.35 < np.mean([a is not None for a in hh.account]) < 0.45


def test_start_must_be_aware() -> None:
    with pytest.raises(ValueError):
        Town(start=datetime(2026, 1, 15, 6, 30))
    with pytest.raises(ValueError):
        Town(kinds={"toaster.status"})  # not a kind the town produces


def test_weekends_differ_from_weekdays() -> None:
    """Thursday 15 January vs Sunday 18 January: no school on Sunday, far fewer commuters."""
    from simulator.people import ROLE_COMMUTER, ROLE_PUPIL

    town = Town(seed=3, population_scale=0.3)
    assert town.clock.weekday(0) == 3 and town.clock.weekday(3) == 6
    pop = town.population
    schools = [i for i, p in enumerate(town.map.places) if p.kind == "school"]
    out = {}
    for day in (0, 3):
        plan = town.plan(day)
        at_school = np.isin(plan.visit_place, schools) & (pop.role[plan.visit_person] == ROLE_PUPIL)
        commuting = np.isin(plan.visit_person, np.flatnonzero(pop.role == ROLE_COMMUTER))
        at_work = plan.visit_place[commuting] == pop.day_place[plan.visit_person[commuting]]
        out[day] = (int(at_school.sum()), int(at_work.sum()))
    assert out[0][0] > 300 and out[3][0] == 0
    assert out[3][1] < 0.3 * out[0][1]


def test_bulk_ids_and_timestamps_are_the_one_by_one_encodings() -> None:
    """Ids and timestamps are made per batch (numpy); each must be exactly the ULID of its
    time and its 10 random bytes, and ``datetime.isoformat()`` of its time."""
    from simulator.clock import Clock
    from simulator.model import _Stamper

    clock, _ = Clock.starting(at(6, 30))
    rng = np.random.default_rng(11)
    t = np.concatenate([rng.integers(0, 40 * 86_400_000, 500), [0, 1000, 999, 86_399_999]])
    words = np.random.default_rng(12).integers(0, 1 << 32, 3 * len(t), dtype=np.uint32)
    again = np.random.default_rng(12)  # the same stream drawn as Generator.bytes(10) per event
    stamp = _Stamper(clock)
    ids, iso = stamp.ids(t, words), stamp.iso(t)
    for i, ms in enumerate(t.tolist()):
        expect = ULID.from_bytes((clock.unix_ms(ms)).to_bytes(6, "big") + again.bytes(10))
        assert ids[i] == str(expect)
        assert iso[i] == clock.dt(ms).isoformat()
