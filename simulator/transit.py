"""Bus rides: residents with a long walk take the bus, on the timetable the buses really keep.

After the day's plan is made (:func:`simulator.people.plan_day`, scenarios), a leg from home
or back home that is long on foot (at least ``MIN_WALK_M``) may become a bus ride when a
route has a stop near both ends (walking to and from the stops at most ``MAX_ACCESS_SHARE``
of the walk): the resident walks to the stop, waits there (in view of the warm stop's
camera), boards the first bus of that route going the right way, alights at the stop
nearest the destination and walks on. Departure from the origin is kept; the arrival moves
to when the bus gets there (the visit there starts then). A ride is dropped if the bus
would arrive too late for the visit, or after the last trip.

The buses' timetables (:class:`simulator.vehicles.Fleet`) do not depend on the people, so
there is no loop: the plan reads the buses' day, and the buses' occupancy reads the plan's
riders (:func:`riders_by_bus`). The choice of who rides draws from the people subsystem's
own stream (a child key of its own), so the other draws of the day plan do not change.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from simulator.clock import MINUTE_MS, SECOND_MS
from simulator.geography import TownMap, street_paths
from simulator.people import HOME, DayPlan, Legs, Population, stop_code
from simulator.vehicles import BUS_CAPACITY, Fleet, Riders

MIN_WALK_M = 1200.0
MAX_ACCESS_SHARE = 0.45
RIDE_SHARE = 0.5  # of those for whom a bus would do
STAY_STOP, STAY_BUS = 0, 1


@dataclass
class Calls:
    """Every stop call of every bus trip of one day, for one route."""

    trip: np.ndarray  # index into the day's trip list
    bus: np.ndarray  # index into Fleet.buses
    stop: np.ndarray  # index in the route's stop list
    direction: np.ndarray
    arr: np.ndarray
    dep: np.ndarray


def day_calls(fleet: Fleet, day: int) -> tuple[list[str], dict[int, Calls]]:
    """The day's trips (ids) and, per route index, all stop calls."""
    trips: list[str] = []
    by_route: dict[int, list[tuple[np.ndarray, ...]]] = {}
    route_ix = {}
    for bi, bus in enumerate(fleet.buses):
        ri = route_ix.setdefault(bus.route.id, len(route_ix))
        tl = bus.timeline(day, fleet.clock)
        off = len(trips)
        trips.extend(tl.trips)
        n = len(tl.call_trip)
        by_route.setdefault(ri, []).append(
            (
                tl.call_trip + off,
                np.full(n, bi),
                tl.call_stop,
                tl.trip_direction[tl.call_trip] if n else np.zeros(0, dtype=np.int64),
                tl.call_arr,
                tl.call_dep,
            )
        )
    calls = {
        ri: Calls(*(np.concatenate([p[k] for p in parts]) for k in range(6)))
        for ri, parts in by_route.items()
    }
    return trips, calls


def _leg_length(paths: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(paths, axis=1), axis=2).sum(axis=1)


def with_bus_rides(
    town: TownMap, pop: Population, plan: DayPlan, fleet: Fleet, rng: np.random.Generator
) -> DayPlan:
    """``plan`` with some long walks from or to home replaced by bus rides."""
    legs = plan.legs
    n = len(legs)
    # drawn per resident (from home, back home), whatever the plan: a scenario that changes
    # some residents' day does not change who else rides
    u_all = rng.random((len(pop), 2))
    vf_all = rng.random((len(pop), 2, 2)) < 0.5
    back = (legs.dest_place == HOME).astype(np.int64)
    u = u_all[legs.person, back]
    vfirst = vf_all[legs.person, back]
    if n == 0 or not town.routes:
        return plan
    length = _leg_length(legs.paths)
    home_end = (legs.orig_place == HOME) != (legs.dest_place == HOME)
    plain = (legs.orig_place >= HOME) & (legs.dest_place >= HOME)  # not already a bus leg
    cand = np.flatnonzero(home_end & plain & (length >= MIN_WALK_M) & (u < RIDE_SHARE))
    if not len(cand):
        return plan
    trips, calls = day_calls(fleet, plan.day)
    stop_ix = {s.id: i for i, s in enumerate(town.stops)}
    sx = np.array([s.x for s in town.stops])
    sy = np.array([s.y for s in town.stops])
    ox, oy = legs.paths[cand, 0, 0], legs.paths[cand, 0, 1]
    dx, dy = legs.paths[cand, -1, 0], legs.paths[cand, -1, 1]
    d_o = np.abs(ox[:, None] - sx[None, :]) + np.abs(oy[:, None] - sy[None, :])
    d_d = np.abs(dx[:, None] - sx[None, :]) + np.abs(dy[:, None] - sy[None, :])
    best = np.full(len(cand), np.inf)
    b_route = np.full(len(cand), -1)
    b_i = np.zeros(len(cand), dtype=np.int64)  # index in the route's stops
    b_j = np.zeros(len(cand), dtype=np.int64)
    for ri, route in enumerate(town.routes):
        gs = np.array([stop_ix[s] for s in route.stops])
        i = d_o[:, gs].argmin(axis=1)
        j = d_d[:, gs].argmin(axis=1)
        rows = np.arange(len(cand))
        access = d_o[rows, gs[i]] + d_d[rows, gs[j]]
        better = (access < best) & (i != j)
        best = np.where(better, access, best)
        b_route = np.where(better, ri, b_route)
        b_i = np.where(better, i, b_i)
        b_j = np.where(better, j, b_j)
    ok = (b_route >= 0) & (best <= MAX_ACCESS_SHARE * length[cand])
    cand, b_route, b_i, b_j = cand[ok], b_route[ok], b_i[ok], b_j[ok]
    vfirst = vfirst[cand]
    if not len(cand):
        return plan
    routes = town.routes
    ga = np.array([stop_ix[routes[r].stops[i]] for r, i in zip(b_route, b_i, strict=True)])
    gb = np.array([stop_ix[routes[r].stops[j]] for r, j in zip(b_route, b_j, strict=True)])
    person = legs.person[cand]
    speed = legs.speed[cand]
    # walk to the stop
    pa = street_paths(legs.paths[cand, 0, 0], legs.paths[cand, 0, 1], sx[ga], sy[ga], vfirst[:, 0])
    dur_a = np.round(_leg_length(pa) / speed * SECOND_MS).astype(np.int64)
    t0 = legs.t0[cand]
    at_stop = t0 + dur_a
    # the first bus of the route going the right way
    board = np.full(len(cand), -1, dtype=np.int64)
    alight = np.full(len(cand), -1, dtype=np.int64)
    trip = np.full(len(cand), -1, dtype=np.int64)
    bus = np.full(len(cand), -1, dtype=np.int64)
    for key in np.unique(np.stack([b_route, b_i, b_j], axis=1), axis=0):
        r, i, j = (int(v) for v in key)
        sel = np.flatnonzero((b_route == r) & (b_i == i) & (b_j == j))
        c = calls.get(r)
        if c is None:
            continue
        dirn = int(j < i)
        dep_rows = np.flatnonzero((c.stop == i) & (c.direction == dirn))
        order = np.argsort(c.dep[dep_rows], kind="stable")
        dep_rows = dep_rows[order]
        # the bus must not have left yet; boarding is at its departure
        k = np.searchsorted(c.dep[dep_rows], at_stop[sel], side="left")
        has = k < len(dep_rows)
        sel, k = sel[has], k[has]
        rows = dep_rows[k]
        arr_rows = np.flatnonzero(c.stop == j)
        # the same trip's call at the alighting stop
        arr_of_trip = dict(zip(c.trip[arr_rows].tolist(), c.arr[arr_rows].tolist(), strict=True))
        a = np.array([arr_of_trip.get(int(tr), -1) for tr in c.trip[rows]], dtype=np.int64)
        good = a > c.dep[rows]
        sel, rows, a = sel[good], rows[good], a[good]
        board[sel] = c.dep[rows]
        alight[sel] = a
        trip[sel] = c.trip[rows]
        bus[sel] = c.bus[rows]
    # walk on from the alighting stop
    pb = street_paths(
        sx[gb], sy[gb], legs.paths[cand, -1, 0], legs.paths[cand, -1, 1], vfirst[:, 1]
    )
    dur_b = np.round(_leg_length(pb) / speed * SECOND_MS).astype(np.int64)
    arrive = alight + dur_b
    # the visit the leg leads to (first legs) must still be worth it
    to_place = legs.dest_place[cand] != HOME
    visit = _visit_at(plan, person, legs.t1[cand], to_place)
    leave = np.where(visit >= 0, plan.visit_leave[np.maximum(visit, 0)], np.iinfo(np.int64).max)
    ride = (board >= 0) & ~(to_place & ((visit < 0) | (arrive > leave - 10 * MINUTE_MS)))
    ride &= _room_aboard(trip, board, alight, ride)
    if not ride.any():
        return plan
    cand, person, speed, pa, pb = cand[ride], person[ride], speed[ride], pa[ride], pb[ride]
    t0, at_stop, board, alight, arrive = (x[ride] for x in (t0, at_stop, board, alight, arrive))
    ga, gb, trip, bus = ga[ride], gb[ride], trip[ride], bus[ride]
    visit, to_place = visit[ride], to_place[ride]
    m = len(cand)
    keep = np.ones(n, dtype=bool)
    keep[cand] = False
    new = Legs(
        person=np.concatenate([legs.person[keep], person, person]),
        t0=np.concatenate([legs.t0[keep], t0, alight]),
        t1=np.concatenate([legs.t1[keep], at_stop, arrive]),
        dest_place=np.concatenate(
            [legs.dest_place[keep], stop_code(ga), legs.dest_place[cand]]
        ).astype(np.int32),
        orig_place=np.concatenate(
            [legs.orig_place[keep], legs.orig_place[cand], stop_code(gb)]
        ).astype(np.int32),
        linger_ms=np.concatenate([legs.linger_ms[keep], board - at_stop, legs.linger_ms[cand]]),
        speed=np.concatenate([legs.speed[keep], speed, speed]),
        paths=np.concatenate([legs.paths[keep], pa, pb]),
    )
    visit_arrive = plan.visit_arrive.copy()
    visit_arrive[visit[to_place]] = arrive[to_place]
    away_end = plan.away_end.copy()
    away_end[person[~to_place]] = arrive[~to_place]
    out = DayPlan(
        day=plan.day,
        legs=new,
        visit_person=plan.visit_person,
        visit_place=plan.visit_place,
        visit_arrive=visit_arrive,
        visit_leave=plan.visit_leave,
        away_start=plan.away_start,
        away_end=away_end,
        stay_person=np.concatenate([person, person]),
        stay_from=np.concatenate([at_stop, board]),
        stay_to=np.concatenate([board, alight]),
        stay_kind=np.concatenate([np.full(m, STAY_STOP), np.full(m, STAY_BUS)]),
        stay_ref=np.concatenate([ga, trip]),
        trip_ids=trips,
        ride_bus=np.concatenate([np.full(m, -1), bus]),
    )
    out.n_households = plan.n_households
    out._household = plan._household
    return out


def _visit_at(plan: DayPlan, person: np.ndarray, t: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Index of the visit of ``person`` that starts at ``t`` (-1: none, or not ``want``)."""
    off = np.int64(1 << 40)  # times of a day before the run are negative
    keys = (plan.visit_person.astype(np.int64) << 42) | (plan.visit_arrive + off)
    order = np.argsort(keys, kind="stable")
    q = (person.astype(np.int64) << 42) | (t.astype(np.int64) + off)
    k = np.minimum(np.searchsorted(keys[order], q), max(len(order) - 1, 0))
    if not len(order):
        return np.full(len(q), -1, dtype=np.int64)
    found = want & (keys[order][k] == q)
    return np.where(found, order[k], -1).astype(np.int64)


def _room_aboard(trip: np.ndarray, board: np.ndarray, alight: np.ndarray, want: np.ndarray):
    """Who finds room: per trip, in boarding order, while fewer than BUS_CAPACITY are aboard
    (those who do not, walk)."""
    ok = np.zeros(len(trip), dtype=bool)
    idx = np.flatnonzero(want)
    idx = idx[np.lexsort((idx, board[idx], trip[idx]))]
    cur_trip, aboard = -1, []  # alighting times of those aboard (a min-heap)
    for k in idx.tolist():
        if trip[k] != cur_trip:
            cur_trip, aboard = int(trip[k]), []
        t = int(board[k])
        while aboard and aboard[0] <= t:
            heapq.heappop(aboard)
        if len(aboard) < BUS_CAPACITY:
            heapq.heappush(aboard, int(alight[k]))
            ok[k] = True
    return ok


def riders_by_bus(plan: DayPlan, fleet: Fleet) -> dict[str, Riders]:
    """Boarding and alighting times of each bus's riders on the plan's day."""
    out: dict[str, Riders] = {}
    ride = plan.stay_kind == STAY_BUS
    for bi, b in enumerate(fleet.buses):
        sel = ride & (plan.ride_bus == bi)
        out[b.source] = Riders(np.sort(plan.stay_from[sel]), np.sort(plan.stay_to[sel]))
    return out
