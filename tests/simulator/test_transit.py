"""Bus rides: residents ride the buses, the truth records it, and occupancy counts them."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from services.events.town import AQKOL_TZ
from simulator.geography import build_town
from simulator.model import Town
from simulator.truth import write_truth_db
from simulator.vehicles import BUS_CAPACITY, BUS_SEATS, OCCUPANCY, occupancy_status

TZ = AQKOL_TZ


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 1, 15, h, m, tzinfo=TZ)


def ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


@pytest.fixture(scope="module")
def rush(tmp_path_factory) -> tuple[Town, list[dict], Path]:
    """The morning rush (07:00-09:30) of the whole town's buses, and its truth."""
    town = Town(seed=5, start=at(7), kinds={"vehicle.position"})
    events = list(town.events(2.5))
    path = tmp_path_factory.mktemp("bus") / "truth.sqlite"
    write_truth_db(town, path, 2.5)
    return town, events, path


def test_occupancy_status_follows_the_riders_against_the_bus_capacity() -> None:
    assert occupancy_status(0) == "EMPTY"
    assert occupancy_status(1) == "MANY_SEATS_AVAILABLE"
    assert occupancy_status(BUS_SEATS) == "FEW_SEATS_AVAILABLE"
    assert occupancy_status(BUS_SEATS + 1) == "STANDING_ROOM_ONLY"
    assert occupancy_status(BUS_CAPACITY - 1) == "CRUSHED_STANDING_ROOM_ONLY"
    assert occupancy_status(BUS_CAPACITY) == "FULL"
    levels = [OCCUPANCY.index(occupancy_status(n)) for n in range(BUS_CAPACITY + 1)]
    assert levels == sorted(levels)  # never fewer riders for a fuller status


def test_bus_rides_are_stays_of_kind_bus_between_a_stop_and_a_walk(rush) -> None:
    _town, events, path = rush
    trips = {
        e["data"]["trip_id"]: e["data"]["route_id"] for e in events if e["data"].get("trip_id")
    }
    routes = {r.id: r for r in build_town().routes}
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT resident, place, kind, t_from_ms, t_to_ms FROM stays"
            " ORDER BY resident, t_from_ms"
        ).fetchall()
    finally:
        db.close()
    by_res: dict[str, list[tuple]] = {}
    for r in rows:
        by_res.setdefault(r[0], []).append(r)
    rides = [r for r in rows if r[2] == "bus"]
    assert len(rides) > 300
    assert len({r[0] for r in rides}) > 250  # many residents ride
    for resident, trip, _, t0, t1 in rides:
        assert trip in trips, trip  # a trip the buses report
        assert t1 > t0
        seq = by_res[resident]
        k = next(i for i, s in enumerate(seq) if s[2] == "bus" and s[3] == t0)
        if k > 0:  # before: waiting at a stop of the trip's route, right until boarding
            wait = seq[k - 1]
            assert wait[2] == "stop" and wait[4] == t0
            assert wait[1] in routes[trips[trip]].stops
        if k + 1 < len(seq):  # after: walking on from the stop
            assert seq[k + 1][2] == "street" and seq[k + 1][3] == t1


def test_vehicle_occupancy_comes_from_the_riders_aboard(rush) -> None:
    _, events, path = rush
    db = sqlite3.connect(path)
    try:
        rides: dict[str, list[tuple[int, int]]] = {}
        for trip, t0, t1 in db.execute(
            "SELECT place, t_from_ms, t_to_ms FROM stays WHERE kind = 'bus'"
        ):
            rides.setdefault(trip, []).append((t0, t1))
    finally:
        db.close()
    statuses: Counter[str] = Counter()
    n = 0
    for e in events:
        d = e["data"]
        if d["vehicle_type"] != "bus":
            continue
        t = ms(e["ts"])
        aboard = sum(1 for a, b in rides.get(d["trip_id"], ()) if a <= t < b)
        assert d["occupancy_status"] == occupancy_status(aboard), (e["source"], e["ts"], aboard)
        statuses[d["occupancy_status"]] += 1
        n += 1
    assert n > 2000
    assert statuses["EMPTY"] < n  # buses carry people in the rush hour
    assert len(statuses) >= 4  # from empty to standing room
