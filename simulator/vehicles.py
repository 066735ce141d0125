"""Vehicles with GPS: buses on timetabled routes and service vehicles roaming the streets.

Buses run back and forth on their route from about 06:00 to 22:30, dwelling at stops and
laying over at the ends; delays build up in the rush hours. Each bus reports every
15 +- 3 s with GTFS-realtime-like fields. Garbage trucks and a snow plough wander the street
grid during their shifts and report every 30-60 s, without a trip.

Each vehicle-day has its own random stream, so vehicles do not disturb each other.

Occupancy (GTFS-realtime ``OccupancyStatus``) is not drawn at random: it comes from the
residents really aboard at the time of the report (the people plan sends some residents by
bus, :mod:`simulator.transit`), relative to a bus of ``BUS_SEATS`` seats and ``BUS_CAPACITY``
places in all (:func:`occupancy_status`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from simulator.clock import DAY_MS, HOUR_MS, SECOND_MS, Clock, hm
from simulator.geography import Route, TownMap, grid_xs, grid_ys
from simulator.people import child_seq, day_key

BUS_SCHED_SPEED = 6.0  # m/s between stops, timetabled
BUS_SCHED_DWELL_S = 25
LAYOVER_S = 240
SERVICE_START, LAST_TRIP = hm(6), hm(22)
BUSES_PER_ROUTE = 2
STOPPED, MOVING = 0, 1
OCCUPANCY = (
    "EMPTY",
    "MANY_SEATS_AVAILABLE",
    "FEW_SEATS_AVAILABLE",
    "STANDING_ROOM_ONLY",
    "CRUSHED_STANDING_ROOM_ONLY",
    "FULL",
)
BUS_SEATS = 22  # a PAZ-type town bus
BUS_CAPACITY = 45  # seated and standing


def occupancy_status(riders: int) -> str:
    """GTFS-rt OccupancyStatus of a bus with ``riders`` aboard (of BUS_CAPACITY)."""
    if riders <= 0:
        return OCCUPANCY[0]
    if riders <= BUS_SEATS // 2:
        return OCCUPANCY[1]
    if riders <= BUS_SEATS:
        return OCCUPANCY[2]
    if riders <= round(0.8 * BUS_CAPACITY):
        return OCCUPANCY[3]
    if riders < BUS_CAPACITY:
        return OCCUPANCY[4]
    return OCCUPANCY[5]


@dataclass
class Riders:
    """Who rides one bus on one day: boarding and alighting times, each sorted."""

    board: np.ndarray
    alight: np.ndarray

    def aboard(self, t: int) -> int:
        return int(np.searchsorted(self.board, t, side="right")) - int(
            np.searchsorted(self.alight, t, side="right")
        )


NO_RIDERS = Riders(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def rush(hour: float) -> bool:
    return 7 <= hour < 9 or 17 <= hour < 19


class Polyline:
    """Distance along a path -> point and bearing."""

    def __init__(self, path: tuple[tuple[float, float], ...]):
        self.p = np.array(path, dtype=float)
        seg = np.diff(self.p, axis=0)
        self.seglen = np.hypot(seg[:, 0], seg[:, 1])
        self.cum = np.concatenate([[0.0], np.cumsum(self.seglen)])
        self.length = float(self.cum[-1])
        self.bearings = np.degrees(np.arctan2(seg[:, 0], seg[:, 1])) % 360

    def at(self, d: float) -> tuple[float, float, float]:
        d = min(max(d, 0.0), self.length)
        i = min(int(np.searchsorted(self.cum, d, side="right")) - 1, len(self.seglen) - 1)
        f = (d - self.cum[i]) / self.seglen[i] if self.seglen[i] > 0 else 0.0
        x, y = self.p[i] + f * (self.p[i + 1] - self.p[i])
        return float(x), float(y), float(self.bearings[i])

    def distance_of(self, pt: tuple[float, float]) -> float:
        """Distance along the path of a vertex equal to ``pt``."""
        for i, q in enumerate(self.p):
            if math.dist(q, pt) < 1e-6:
                return float(self.cum[i])
        raise ValueError(f"{pt} is not on the path")


def plate(rng: np.random.Generator) -> str:
    """A Kazakh-style plate: 3 digits, 3 letters, region 03 (Akmola)."""
    letters = "ABCEHKMOPTXY"
    return f"{int(rng.integers(100, 1000))} {''.join(rng.choice(list(letters), 3))} 03"


@dataclass
class _Timeline:
    """Phases of one vehicle-day, as columns."""

    t0: np.ndarray
    t1: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    trip: list[str]
    seq: np.ndarray
    stop: list[str]
    status: np.ndarray
    delay0: np.ndarray
    delay1: np.ndarray
    direction: np.ndarray
    # stop calls: one row per trip and stop (index in the route's stop list)
    call_trip: np.ndarray  # index into ``trips``
    call_stop: np.ndarray
    call_arr: np.ndarray
    call_dep: np.ndarray
    trips: list[str]
    trip_direction: np.ndarray


class Bus:
    def __init__(self, route: Route, stops_d: list[float], index: int, number: int, ss, rng):
        self.route, self.index, self.ss = route, index, ss
        self.line = Polyline(route.path)
        self.stops_d = stops_d
        self.source = f"bus-{number:02d}"
        self.plate = plate(rng)
        self._timelines: dict[int, _Timeline] = {}

    def timeline(self, day: int, clock: Clock) -> _Timeline:
        """The bus's day (cached: the planner and the position reports share it)."""
        if day not in self._timelines:
            if len(self._timelines) > 2:
                self._timelines.pop(min(self._timelines))
            self._timelines[day] = self._make_timeline(day, clock)
        return self._timelines[day]

    def _make_timeline(self, day: int, clock: Clock) -> _Timeline:
        # day -1 (the evening before a run, for walks past midnight) has a key of its own
        rng = np.random.default_rng(child_seq(self.ss, day_key(day)))
        base = day * DAY_MS
        date = clock.dt(base).strftime("%Y%m%d")
        k = len(self.stops_d)
        cols: dict[str, list] = {n: [] for n in _Timeline.__dataclass_fields__}
        calls: list[tuple[int, int, int, int]] = []  # trip, stop, arrival, departure
        direction = self.index % 2  # the second bus starts from the other end
        sched = base + SERVICE_START + self.index * 5 * 60 * SECOND_MS
        actual_end = sched
        n = 0
        while sched <= base + LAST_TRIP:
            n += 1
            trip = f"{self.route.id}-{date}-{self.index + 1}{n:02d}"
            ti = len(cols["trips"])
            cols["trips"].append(trip)
            cols["trip_direction"].append(direction)
            order = list(range(k)) if direction == 0 else list(range(k - 1, -1, -1))
            dep = max(sched, actual_end + 60 * SECOND_MS) + int(abs(rng.normal(0, 15)) * SECOND_MS)
            # layover / boarding at the first stop
            self._phase(
                cols,
                actual_end,
                dep,
                order[0],
                order[0],
                trip,
                1,
                STOPPED,
                0,
                dep - sched,
                direction,
            )
            calls.append((ti, order[0], actual_end, dep))
            t, s_t = dep, sched
            for j in range(1, k):
                a, b = order[j - 1], order[j]
                dist = abs(self.stops_d[b] - self.stops_d[a])
                hour = ((t - base) % DAY_MS) / HOUR_MS
                s_run = dist / BUS_SCHED_SPEED * SECOND_MS
                run = s_run * rng.uniform(0.85, 1.2) * (1.2 if rush(hour) else 1.0)
                s_arr = s_t + int(s_run)
                arr = t + int(run)
                self._phase(
                    cols, t, arr, a, b, trip, j + 1, MOVING, t - s_t, arr - s_arr, direction
                )
                if j == k - 1:
                    calls.append((ti, b, arr, arr))  # the terminus: alighting only
                    t, s_t = arr, s_arr
                    break
                dwell = rng.uniform(15, 45) + (15 if rush(hour) else 0)
                dep = arr + int(dwell * SECOND_MS)
                s_dep = s_arr + BUS_SCHED_DWELL_S * SECOND_MS
                self._phase(
                    cols,
                    arr,
                    dep,
                    b,
                    b,
                    trip,
                    j + 1,
                    STOPPED,
                    arr - s_arr,
                    dep - s_dep,
                    direction,
                )
                calls.append((ti, b, arr, dep))
                t, s_t = dep, s_dep
            actual_end = t
            sched = s_t + LAYOVER_S * SECOND_MS
            direction = 1 - direction
        return _Timeline(
            t0=np.array(cols["t0"], dtype=np.int64),
            t1=np.array(cols["t1"], dtype=np.int64),
            d0=np.array(cols["d0"]),
            d1=np.array(cols["d1"]),
            trip=cols["trip"],
            seq=np.array(cols["seq"]),
            stop=cols["stop"],
            status=np.array(cols["status"]),
            delay0=np.array(cols["delay0"]),
            delay1=np.array(cols["delay1"]),
            direction=np.array(cols["direction"]),
            call_trip=np.array([c[0] for c in calls], dtype=np.int64),
            call_stop=np.array([c[1] for c in calls], dtype=np.int64),
            call_arr=np.array([c[2] for c in calls], dtype=np.int64),
            call_dep=np.array([c[3] for c in calls], dtype=np.int64),
            trips=cols["trips"],
            trip_direction=np.array(cols["trip_direction"], dtype=np.int64),
        )

    def _phase(self, cols, t0, t1, a, b, trip, seq, status, delay0, delay1, direction) -> None:
        cols["t0"].append(int(t0))
        cols["t1"].append(int(max(t1, t0)))
        cols["d0"].append(self.stops_d[a])
        cols["d1"].append(self.stops_d[b])
        cols["trip"].append(trip)
        cols["seq"].append(seq)
        cols["stop"].append(self.route.stops[b])
        cols["status"].append(status)
        cols["delay0"].append(delay0)
        cols["delay1"].append(delay1)
        cols["direction"].append(direction)

    def stream(
        self,
        t_start: int,
        t_end: int,
        clock: Clock,
        riders: Callable[[int], dict[str, Riders]] | None = None,
    ) -> Iterator[tuple]:
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            tl = self.timeline(day, clock)
            if len(tl.t0) == 0:
                continue
            aboard = riders(day).get(self.source, NO_RIDERS) if riders else NO_RIDERS
            rng = np.random.default_rng(child_seq(self.ss, 100_000 + day))
            t = int(tl.t0[0]) + int(rng.integers(0, 15_000))
            last = int(tl.t1[-1])
            while t < last:
                gap = int(rng.integers(12_000, 18_001))
                jitter = rng.normal(0, 2.5, size=3)
                if t >= t_end:
                    return
                if t >= t_start:
                    yield self._report(tl, t, jitter, aboard.aboard(t))
                t += gap

    def _report(self, tl: _Timeline, t: int, jitter: np.ndarray, riders: int) -> tuple:
        i = max(int(np.searchsorted(tl.t0, t, side="right")) - 1, 0)
        span = max(int(tl.t1[i] - tl.t0[i]), 1)
        f = min(max((t - tl.t0[i]) / span, 0.0), 1.0)
        d = tl.d0[i] + f * (tl.d1[i] - tl.d0[i])
        x, y, bearing = self.line.at(d)
        if tl.direction[i] == 1:
            bearing = (bearing + 180) % 360
        moving = tl.status[i] == MOVING
        if moving:
            speed = float(abs(tl.d1[i] - tl.d0[i]) / (span / SECOND_MS) * (1 + 0.02 * jitter[2]))
            status = "INCOMING_AT" if abs(tl.d1[i] - d) < 120 else "IN_TRANSIT_TO"
        else:
            speed, status = 0.0, "STOPPED_AT"
        delay = float(tl.delay0[i] + f * (tl.delay1[i] - tl.delay0[i]))
        data = {
            "vehicle_type": "bus",
            "plate": self.plate,
            "trip_id": tl.trip[i],
            "route_id": self.route.id,
            "bearing": round(bearing, 1) % 360,
            "speed_mps": round(max(0.0, min(speed, 25.0)), 1),
            "stop_id": tl.stop[i],
            "current_stop_sequence": int(tl.seq[i]),
            "current_status": status,
            "occupancy_status": occupancy_status(riders),
            "delay_s": round(delay / SECOND_MS),
        }
        xy = (x + float(jitter[0]), y + float(jitter[1]))
        return t, "vehicle.position", self.source, data, xy, None


class ServiceVehicle:
    """A garbage truck or snow plough wandering the grid during its shift."""

    def __init__(
        self, source: str, vtype: str, shift: tuple[int, int], speed: tuple[float, float], ss, rng
    ):
        self.source, self.vtype, self.shift, self.speed, self.ss = source, vtype, shift, speed, ss
        self.plate = plate(rng)
        self.xs, self.ys = grid_xs(), grid_ys()

    def _neighbours(self, i: int, j: int) -> list[tuple[int, int]]:
        out = []
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= i + di < len(self.xs) and 0 <= j + dj < len(self.ys):
                out.append((i + di, j + dj))
        return out

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            rng = np.random.default_rng(child_seq(self.ss, day))
            base = day * DAY_MS
            begin, end = base + self.shift[0], base + self.shift[1]
            node, prev = (2, 9), None  # near the depot in the north-west
            seg_t0 = seg_t1 = begin
            a = b = node
            bearing = 0.0
            t = begin + int(rng.integers(0, 30_000))
            while t < end and t < t_end:
                while seg_t1 <= t:  # advance along the streets until the report time
                    opts = [n for n in self._neighbours(*b) if n != prev] or self._neighbours(*b)
                    nxt = opts[int(rng.integers(len(opts)))]
                    prev, a = b, b
                    b = nxt
                    pause = (
                        rng.uniform(20, 120)
                        if self.vtype == "garbage_truck" and rng.random() < 0.6
                        else 0
                    )
                    seg_t0 = seg_t1 + int(pause * SECOND_MS)
                    seg_t1 = seg_t0 + int(200 / rng.uniform(*self.speed) * SECOND_MS)
                ax, ay = self.xs[a[0]], self.ys[a[1]]
                bx, by = self.xs[b[0]], self.ys[b[1]]
                if t < seg_t0:  # pausing at a stop
                    x, y, speed = float(ax), float(ay), 0.0
                else:
                    f = (t - seg_t0) / (seg_t1 - seg_t0)
                    x, y = ax + f * (bx - ax), ay + f * (by - ay)
                    speed = 200 / ((seg_t1 - seg_t0) / SECOND_MS)
                    x, y = float(x), float(y)
                    bearing = math.degrees(math.atan2(bx - ax, by - ay)) % 360
                jit = rng.normal(0, 2.5, size=2)
                if t >= t_start:
                    data = {
                        "vehicle_type": self.vtype,
                        "plate": self.plate,
                        "bearing": round(bearing, 1) % 360,
                        "speed_mps": round(float(speed), 1),
                    }
                    yield (
                        t,
                        "vehicle.position",
                        self.source,
                        data,
                        (float(x + jit[0]), float(y + jit[1])),
                        None,
                    )
                t += int(rng.integers(30_000, 60_001))


class Fleet:
    """All vehicles of the town, merged in time order."""

    def __init__(self, town: TownMap, ss: np.random.SeedSequence, clock: Clock):
        self.clock = clock
        rng = np.random.default_rng(child_seq(ss, 0))
        self.buses: list[Bus] = []
        for ri, route in enumerate(town.routes):
            line = Polyline(route.path)
            stops_d = [line.distance_of((town.stop(s).x, town.stop(s).y)) for s in route.stops]
            for b in range(BUSES_PER_ROUTE):
                number = len(self.buses) + 1
                self.buses.append(
                    Bus(route, stops_d, b, number, child_seq(ss, 10 + 10 * ri + b), rng)
                )
        self.service = [
            ServiceVehicle(
                "truck-01", "garbage_truck", (hm(7), hm(17)), (3.5, 5.5), child_seq(ss, 1), rng
            ),
            ServiceVehicle(
                "truck-02",
                "garbage_truck",
                (hm(7, 30), hm(17, 30)),
                (3.5, 5.5),
                child_seq(ss, 2),
                rng,
            ),
            ServiceVehicle(
                "plough-01", "snow_plough", (hm(5), hm(23)), (5.0, 8.0), child_seq(ss, 3), rng
            ),
        ]

    def stream(
        self,
        t_start: int,
        t_end: int,
        riders: Callable[[int], dict[str, Riders]] | None = None,
    ) -> Iterator[tuple]:
        """Position reports; ``riders(day)`` gives each bus's riders (by source id)."""
        streams = [b.stream(t_start, t_end, self.clock, riders) for b in self.buses]
        streams += [v.stream(t_start, t_end) for v in self.service]
        return heapq.merge(*streams, key=lambda e: e[0])
