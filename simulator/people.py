"""Residents and their daily routines: who lives where, where they go, when, and which way.

A resident has a home household, a sex, an age and a role (small child at home, pupil,
commuter, adult at home, retiree). Each simulated day every resident gets at most one
outing: a chain of legs home -> place(s) -> home, walked along the street grid. Cameras see
the legs that pass them (:func:`camera_passes`); gas meters see who is at home
(:meth:`DayPlan.home_counts`).

Plans are generated per day from their own seeded stream, so day 3 is the same whether or
not day 2 was simulated, and nothing here depends on cameras or meters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.clock import DAY_MS, MINUTE_MS, SECOND_MS, hm
from simulator.geography import Camera, TownMap, street_paths

SEXES = ("M", "F")
AGE_GROUPS = ("0-5", "6-17", "18-64", "65+")
ROLE_SMALL, ROLE_PUPIL, ROLE_COMMUTER, ROLE_HOME, ROLE_RETIREE = range(5)
RETIREMENT_AGE = 63
HOME = -1  # place index meaning "home"
STOP_BASE = -1000  # leg ends at a bus stop: place code STOP_BASE - stop index


def stop_code(stop_index: np.ndarray | int) -> np.ndarray:
    """The place code of a bus stop in legs (``dest_place``/``orig_place``)."""
    return STOP_BASE - np.asarray(stop_index)


def child_seq(ss: np.random.SeedSequence, key: int) -> np.random.SeedSequence:
    """The ``key``-th child of ``ss`` without depending on how many were spawned before."""
    return np.random.SeedSequence(entropy=ss.entropy, spawn_key=(*ss.spawn_key, key))


def day_key(day: int) -> int:
    """A child key for simulated ``day``: the day itself, or for a day before the run (-1,
    for walks past midnight) a key of its own that no later day uses."""
    return day if day >= 0 else (1 << 32) + day


def age_group(age: np.ndarray) -> np.ndarray:
    return np.digitize(age, [6, 18, 65])


@dataclass
class Population:
    """Column arrays, one row per resident (index i -> id ``res-{i+1:05d}``)."""

    household: np.ndarray  # index into TownMap.households
    sex: np.ndarray  # 0 = male, 1 = female
    age: np.ndarray
    role: np.ndarray
    day_place: np.ndarray  # school or workplace (index into TownMap.places), HOME otherwise
    speed: np.ndarray  # walking speed, m/s

    def __len__(self) -> int:
        return len(self.household)

    @staticmethod
    def id(i: int) -> str:
        return f"res-{i + 1:05d}"

    @classmethod
    def generate(
        cls, town: TownMap, households: np.ndarray, rng: np.random.Generator
    ) -> Population:
        hh = town.households
        hid, sex, age = [], [], []
        u = rng.random((len(households), 6))
        for k, h in enumerate(households):
            n = int(hh.residents[h])
            senior_head = u[k, 0] < (0.35 if n <= 2 else 0.08)
            a0 = int(65 + 20 * u[k, 1]) if senior_head else int(22 + 42 * u[k, 1])
            s0 = int(u[k, 2] < 0.5)
            members = [(s0, a0)]
            if n >= 2:
                if u[k, 3] < 0.75:  # partner
                    members.append((1 - s0, max(18, min(90, a0 + int(rng.integers(-5, 4))))))
                else:  # an adult child or a relative
                    members.append((int(u[k, 4] < 0.5), int(18 + 20 * u[k, 5])))
            for _ in range(n - len(members)):
                if rng.random() < 0.14:  # a grandparent
                    members.append((int(rng.random() < 0.6), int(rng.integers(63, 88))))
                else:
                    members.append((int(rng.random() < 0.49), int(rng.integers(0, 18))))
            for s, a in members:
                hid.append(int(h))
                sex.append(s)
                age.append(a)
        household = np.array(hid, dtype=np.int32)
        sex_a = np.array(sex, dtype=np.int8)
        age_a = np.array(age, dtype=np.int16)
        n = len(household)
        role = np.full(n, ROLE_HOME, dtype=np.int8)
        role[age_a < 6] = ROLE_SMALL
        role[(age_a >= 6) & (age_a < 18)] = ROLE_PUPIL
        role[age_a >= RETIREMENT_AGE] = ROLE_RETIREE
        adult = (age_a >= 18) & (age_a < RETIREMENT_AGE)
        role[adult & (rng.random(n) < 0.62)] = ROLE_COMMUTER  # the rest work at home or away

        day_place = np.full(n, HOME, dtype=np.int32)
        hx, hy = hh.x[household], hh.y[household]
        schools = [i for i, p in enumerate(town.places) if p.kind == "school"]
        sx = np.array([town.places[i].entrance[0] for i in schools])
        sy = np.array([town.places[i].entrance[1] for i in schools])
        pupils = role == ROLE_PUPIL
        d = np.abs(hx[pupils, None] - sx[None, :]) + np.abs(hy[pupils, None] - sy[None, :])
        day_place[pupils] = np.array(schools)[d.argmin(axis=1)]
        work = [i for i, p in enumerate(town.places) if p.capacity > 0]
        cap = np.array([town.places[i].capacity for i in work], dtype=float)
        commuters = role == ROLE_COMMUTER
        day_place[commuters] = rng.choice(work, size=int(commuters.sum()), p=cap / cap.sum())

        speed = rng.uniform(1.05, 1.6, size=n)
        speed[role == ROLE_RETIREE] = rng.uniform(0.75, 1.2, size=int((role == ROLE_RETIREE).sum()))
        return cls(household, sex_a, age_a, role, day_place, np.round(speed, 3))


@dataclass
class Legs:
    """Column arrays, one row per walk from one point to another."""

    person: np.ndarray
    t0: np.ndarray  # departure, ms
    t1: np.ndarray  # arrival, ms
    dest_place: np.ndarray  # HOME or a place index
    orig_place: np.ndarray
    linger_ms: np.ndarray  # time spent in view at the destination's gate
    speed: np.ndarray
    paths: np.ndarray  # (n, 6, 2)

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class DayPlan:
    day: int
    legs: Legs
    visit_person: np.ndarray
    visit_place: np.ndarray
    visit_arrive: np.ndarray
    visit_leave: np.ndarray
    away_start: np.ndarray  # per resident; -1 = at home all day
    away_end: np.ndarray
    # other stays (simulator.transit): waiting at a stop (kind 0, ref = stop index) and
    # riding a bus (kind 1, ref = index into trip_ids, ride_bus = index of the bus)
    stay_person: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stay_from: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stay_to: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stay_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stay_ref: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ride_bus: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trip_ids: list[str] = field(default_factory=list)
    n_households: int = 0
    _household: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32), repr=False)

    def spill(self, t_ms: int) -> DayPlan:
        """The part of this plan still going on at ``t_ms`` (the next midnight): the legs
        and visits that end after it, for the next day's cameras and truth."""
        lg = self.legs
        keep = lg.t1 + lg.linger_ms > t_ms
        legs = Legs(*(getattr(lg, f)[keep] for f in Legs.__dataclass_fields__))
        v = self.visit_leave > t_ms
        s = self.stay_to > t_ms
        out = DayPlan(
            day=self.day,
            legs=legs,
            visit_person=self.visit_person[v],
            visit_place=self.visit_place[v],
            visit_arrive=self.visit_arrive[v],
            visit_leave=self.visit_leave[v],
            away_start=self.away_start,
            away_end=self.away_end,
            stay_person=self.stay_person[s],
            stay_from=self.stay_from[s],
            stay_to=self.stay_to[s],
            stay_kind=self.stay_kind[s],
            stay_ref=self.stay_ref[s],
            ride_bus=self.ride_bus[s],
            trip_ids=self.trip_ids,
        )
        out.n_households, out._household = self.n_households, self._household
        return out

    def home_counts(
        self, t_ms: int, household_rows: np.ndarray, before: DayPlan | None = None
    ) -> np.ndarray:
        """Residents at home at ``t_ms`` for each household index in ``household_rows``;
        ``before``: the previous day's plan, whose walks may still be going on past midnight."""
        away = (self.away_start <= t_ms) & (t_ms < self.away_end)
        if before is not None:
            away |= (before.away_start <= t_ms) & (t_ms < before.away_end)
        present = np.bincount(self._household[~away], minlength=self.n_households)
        return present[household_rows]


class _LegBuilder:
    def __init__(self, town: TownMap, pop: Population, rng: np.random.Generator, day: int):
        self.town, self.pop, self.rng, self.base = town, pop, rng, day * DAY_MS
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("person", "t0", "t1", "dest", "orig", "linger", "speed", "paths")
        }
        self.visits: list[tuple[np.ndarray, ...]] = []
        n = len(pop)
        self.away_start = np.full(n, -1, dtype=np.int64)
        self.away_end = np.full(n, -1, dtype=np.int64)
        hh = town.households
        self.home_x, self.home_y = hh.x[pop.household], hh.y[pop.household]
        self.ex = np.array([p.entrance[0] for p in town.places])
        self.ey = np.array([p.entrance[1] for p in town.places])
        self.kind = np.array([p.kind for p in town.places])

    def _xy(self, persons: np.ndarray, place: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        home = place == HOME
        pl = np.where(home, 0, place)
        return (
            np.where(home, self.home_x[persons], self.ex[pl]),
            np.where(home, self.home_y[persons], self.ey[pl]),
        )

    def _leg(self, persons: np.ndarray, orig: np.ndarray, dest: np.ndarray) -> tuple:
        ox, oy = self._xy(persons, orig)
        dx, dy = self._xy(persons, dest)
        vfirst = self.rng.random(len(persons)) < 0.5
        paths = street_paths(ox, oy, dx, dy, vfirst)
        length = np.linalg.norm(np.diff(paths, axis=1), axis=2).sum(axis=1)
        dur = np.round(length / self.pop.speed[persons] * SECOND_MS).astype(np.int64)
        return paths, dur

    def _add(self, persons, t0, dur, orig, dest, paths) -> None:
        c = self.cols
        n = len(persons)
        school = (dest != HOME) & (self.kind[np.where(dest == HOME, 0, dest)] == "school")
        linger = np.where(
            school,
            self.rng.uniform(30, 100, size=n),
            self.rng.uniform(5, 30, size=n),
        )
        c["person"].append(persons)
        c["t0"].append(t0)
        c["t1"].append(t0 + dur)
        c["dest"].append(dest.astype(np.int32))
        c["orig"].append(orig.astype(np.int32))
        c["linger"].append(np.round(linger * SECOND_MS).astype(np.int64))
        c["speed"].append(self.pop.speed[persons])
        c["paths"].append(paths)

    def outing(
        self,
        persons: np.ndarray,
        places: list[np.ndarray],
        dwell_ms: list[np.ndarray],
        time_ms: np.ndarray,
        anchor: str,
    ) -> None:
        """home -> places[0] -> ... -> home; ``time_ms`` is the first arrival or departure."""
        persons = np.asarray(persons, dtype=np.int64)
        if len(persons) == 0:
            return
        t = self.base + np.asarray(time_ms, dtype=np.int64)
        here = np.full(len(persons), HOME)
        first = True
        for place, dwell in zip(
            [*places, np.full(len(persons), HOME)], [*dwell_ms, None], strict=True
        ):
            paths, dur = self._leg(persons, here, place)
            if first and anchor == "arrive":
                t = t - dur
            if first:
                self.away_start[persons] = t
                first = False
            self._add(persons, t, dur, here, place, paths)
            t = t + dur
            if dwell is None:
                self.away_end[persons] = t
                break
            leave = t + np.asarray(dwell, dtype=np.int64)
            self.visits.append((persons, place.astype(np.int32), t, leave))
            t, here = leave, place

    def plan(self) -> DayPlan:
        c = self.cols
        if c["person"]:
            legs = Legs(
                person=np.concatenate(c["person"]),
                t0=np.concatenate(c["t0"]),
                t1=np.concatenate(c["t1"]),
                dest_place=np.concatenate(c["dest"]),
                orig_place=np.concatenate(c["orig"]),
                linger_ms=np.concatenate(c["linger"]),
                speed=np.concatenate(c["speed"]),
                paths=np.concatenate(c["paths"]),
            )
        else:
            e = np.zeros(0, dtype=np.int64)
            legs = Legs(e, e, e, e, e, e, np.zeros(0), np.zeros((0, 6, 2)))
        v = (
            [np.concatenate([x[i] for x in self.visits]) for i in range(4)]
            if self.visits
            else [np.zeros(0, dtype=np.int64)] * 4
        )
        plan = DayPlan(
            day=self.base // DAY_MS,
            legs=legs,
            visit_person=v[0],
            visit_place=v[1],
            visit_arrive=v[2],
            visit_leave=v[3],
            away_start=self.away_start,
            away_end=self.away_end,
        )
        plan.n_households = len(self.town.households)
        plan._household = self.pop.household
        return plan


def _clip_normal(rng, mean_ms: int, sd_min: float, lo_ms: int, hi_ms: int, n: int) -> np.ndarray:
    return np.clip(rng.normal(mean_ms, sd_min * MINUTE_MS, size=n), lo_ms, hi_ms).astype(np.int64)


def _minutes(rng, lo: float, hi: float, n: int) -> np.ndarray:
    return (rng.uniform(lo, hi, size=n) * MINUTE_MS).astype(np.int64)


SHIFTS = ((hm(7, 47), hm(13, 5)), (hm(13, 20), hm(18, 35)))  # school shifts: start, end


def plan_day(
    town: TownMap,
    pop: Population,
    day: int,
    weekday: int,
    rng: np.random.Generator,
    school_shift: np.ndarray | None = None,
) -> DayPlan:
    """Every resident's outing for one day (weekday: Monday = 0).

    ``school_shift`` (per resident, 0 or 1) is each pupil's class's shift; without it a
    pupil's shift is drawn (70 % in the first).
    """
    b = _LegBuilder(town, pop, rng, day)
    n = len(pop)
    u = rng.random(n)  # one uniform per resident picks among the optional outings
    ids = np.arange(n)
    places = {p.id: i for i, p in enumerate(town.places)}
    market, square, hospital = places["market"], places["square"], places["hospital"]
    shops = np.array([i for i, p in enumerate(town.places) if p.kind == "shop"])
    weekend = weekday >= 5
    role = pop.role

    busy = np.zeros(n, dtype=bool)
    if not weekend:
        # pupils: two shifts, as in many Kazakh schools
        pupils = ids[role == ROLE_PUPIL]
        first = rng.random(len(pupils)) < 0.7
        if school_shift is not None:
            first = school_shift[pupils] == 0
        for sel, (arrive, leave) in zip((first, ~first), SHIFTS, strict=True):
            p = pupils[sel]
            k = len(p)
            t_arr = _clip_normal(rng, arrive, 6.5, arrive - hm(0, 25), arrive + hm(0, 18), k)
            t_leave = hm(0) + leave + (rng.exponential(12, size=k) * MINUTE_MS).astype(np.int64)
            b.outing(p, [pop.day_place[p]], [t_leave - t_arr], t_arr, "arrive")
        busy[pupils] = True
    # commuters (a few also on weekends: hospital, police, market, boiler house)
    com = ids[role == ROLE_COMMUTER]
    if weekend:
        keep = np.isin(
            pop.day_place[com], [hospital, market, places["police"], places["boiler-house"]]
        )
        com = com[keep & (rng.random(len(com)) < 0.6)]
    k = len(com)
    t_arr = _clip_normal(rng, hm(8, 30), 20, hm(7, 15), hm(9, 40), k)
    t_out = _clip_normal(rng, hm(18), 25, hm(16, 30), hm(20), k)
    shop_after = rng.random(k) < 0.2
    for sel, extra in ((~shop_after, False), (shop_after, True)):
        p = com[sel]
        if not extra:
            b.outing(p, [pop.day_place[p]], [t_out[sel] - t_arr[sel]], t_arr[sel], "arrive")
        else:
            dwell = _minutes(rng, 10, 30, len(p))
            b.outing(
                p,
                [pop.day_place[p], np.full(len(p), market)],
                [t_out[sel] - t_arr[sel], dwell],
                t_arr[sel],
                "arrive",
            )
    busy[com] = True

    # everyone else who is old enough: market around midday, hospital, shop, an evening stroll
    free = ids[(role != ROLE_SMALL) & ~busy]
    uf = u[free]
    p_market = np.where(role[free] == ROLE_RETIREE, 0.3, 0.35) + (0.15 if weekend else 0.0)
    p_hosp = np.where(role[free] == ROLE_RETIREE, 0.08, 0.03)
    go_market = uf < p_market
    go_hosp = (~go_market) & (uf < p_market + p_hosp)
    go_shop = (~go_market) & (~go_hosp) & (uf < p_market + p_hosp + 0.2)
    go_square = (~go_market) & (~go_hosp) & (~go_shop) & (uf < p_market + p_hosp + 0.27)
    p = free[go_market]
    b.outing(
        p,
        [np.full(len(p), market)],
        [_minutes(rng, 20, 70, len(p))],
        _clip_normal(rng, hm(11, 30), 70, hm(9), hm(16), len(p)),
        "depart",
    )
    p = free[go_hosp]
    b.outing(
        p,
        [np.full(len(p), hospital)],
        [_minutes(rng, 60, 180, len(p))],
        _clip_normal(rng, hm(9, 30), 50, hm(8), hm(14), len(p)),
        "depart",
    )
    p = free[go_shop]
    if len(shops):
        hx, hy = b.home_x[p], b.home_y[p]
        d = np.abs(hx[:, None] - b.ex[shops][None, :]) + np.abs(hy[:, None] - b.ey[shops][None, :])
        b.outing(
            p,
            [shops[d.argmin(axis=1)]],
            [_minutes(rng, 5, 20, len(p))],
            _clip_normal(rng, hm(14), 150, hm(9), hm(20, 30), len(p)),
            "depart",
        )
    p = free[go_square]
    b.outing(
        p,
        [np.full(len(p), square)],
        [_minutes(rng, 15, 45, len(p))],
        _clip_normal(rng, hm(17, 30), 60, hm(15), hm(20, 30), len(p)),
        "depart",
    )
    return b.plan()


@dataclass
class Passes:
    """People passing (or standing in) a camera's view: one row per camera and leg."""

    camera: np.ndarray
    person: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray
    t_pass: np.ndarray  # closest approach: when a face would be captured

    def __len__(self) -> int:
        return len(self.camera)


def _wedges(cam: Camera) -> list[tuple[float, float]]:
    """The field of view as convex wedges (compass degrees from, to); [] for a full circle."""
    fov = float(cam.fov_deg)
    if fov >= 360:
        return []
    lo, hi = cam.heading_deg - fov / 2, cam.heading_deg + fov / 2
    if fov <= 180:
        return [(lo, hi)]
    return [(lo, cam.heading_deg), (cam.heading_deg, hi)]  # each half is convex


def view_intervals(
    p0: np.ndarray, d: np.ndarray, cam: Camera
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where segments ``p0 + u d`` (u in [0, 1], arrays (..., 2)) lie in the camera's view.

    The view is the sector within ``range_m`` of the camera and within ``fov_deg / 2`` of its
    heading. Returns (lo, hi, ok): the part ``lo <= u <= hi`` is in view where ``ok``; a
    segment that only touches the view in one point (e.g. passes right under a camera that
    looks the other way) is not in view. A view wider than 180 degrees is two convex halves;
    a segment seen in both is taken as in view from the first point to the last (it can only
    leave the view behind the camera, within a few metres of it). Vectorised over all
    leading axes.
    """
    w = p0 - np.array([cam.x, cam.y])
    dx, dy, wx, wy = d[..., 0], d[..., 1], w[..., 0], w[..., 1]
    a = dx * dx + dy * dy
    b = wx * dx + wy * dy
    c = wx * wx + wy * wy - cam.range_m * cam.range_m
    moving = a > 1e-9
    min_u = 1e-3 / np.sqrt(np.where(moving, a, 1.0))  # seen for at least a millimetre
    a_ = np.where(moving, a, 1.0)
    disc = b * b - a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    lo0 = np.clip((-b - sq) / a_, 0.0, 1.0)
    hi0 = np.clip((-b + sq) / a_, 0.0, 1.0)
    ok0 = moving & (disc > 0)
    wedges = _wedges(cam)
    if not wedges:
        return lo0, hi0, ok0 & (hi0 - lo0 > min_u)
    eps = 1e-6  # metres: a walk along the edge of the view is in view
    lo_all = np.full(lo0.shape, np.inf)
    hi_all = np.full(lo0.shape, -np.inf)
    for left, right in wedges:
        lo, hi, ok = lo0.copy(), hi0.copy(), ok0.copy()
        for ang, sign in ((left, -1.0), (right, 1.0)):
            ex, ey = math.sin(math.radians(ang)), math.cos(math.radians(ang))
            # sign * cross(e, w + u d) >= 0: on the inner side of this edge of the wedge
            z0 = sign * (ex * wy - ey * wx) + eps
            z1 = sign * (ex * dy - ey * dx)
            flat = np.abs(z1) < 1e-12
            root = -z0 / np.where(flat, 1.0, z1)
            lo = np.where(z1 > 0, np.maximum(lo, root), lo)
            hi = np.where(z1 < 0, np.minimum(hi, root), hi)
            ok &= ~(flat & (z0 < 0))
        ok &= hi - lo > min_u
        lo_all = np.where(ok, np.minimum(lo_all, lo), lo_all)
        hi_all = np.where(ok, np.maximum(hi_all, hi), hi_all)
    ok = hi_all - lo_all > min_u
    return np.where(ok, lo_all, 0.0), np.where(ok, hi_all, 0.0), ok


def camera_passes(plan: DayPlan, cameras: list[Camera], gate_place: list[int]) -> Passes:
    """Every leg that enters a camera's field of view, with when it is in view.

    A leg is seen by a camera when some point of it lies within ``range_m`` of the camera
    and within ``fov_deg / 2`` of its heading (:func:`view_intervals`). ``t_in`` and ``t_out``
    are the first and last moments in view; ``t_pass`` the closest approach while in view
    (when a face would be captured). ``gate_place[i]`` is the place (or stop code) whose
    entrance camera ``i`` watches (or -2): a leg ending there stays in view while the walker
    lingers at the gate (or waits at the stop).
    """
    legs = plan.legs
    out: list[tuple[np.ndarray, ...]] = []
    if len(legs) == 0:
        e = np.zeros(0, dtype=np.int64)
        return Passes(e, e, e, e, e)
    p0 = legs.paths[:, :-1, :]
    d = legs.paths[:, 1:, :] - p0
    seglen2 = (d**2).sum(axis=2)
    seglen = np.sqrt(seglen2)
    cum = np.concatenate([np.zeros((len(legs), 1)), np.cumsum(seglen, axis=1)[:, :-1]], axis=1)
    lo_xy = legs.paths.min(axis=1)
    hi_xy = legs.paths.max(axis=1)
    ms_per_m = SECOND_MS / legs.speed
    for ci, cam in enumerate(cameras):
        r = cam.range_m
        near = (
            (lo_xy[:, 0] - r <= cam.x)
            & (cam.x <= hi_xy[:, 0] + r)
            & (lo_xy[:, 1] - r <= cam.y)
            & (cam.y <= hi_xy[:, 1] + r)
        )
        idx = np.flatnonzero(near)
        if len(idx) == 0:
            continue
        lo, hi, ok = view_intervals(p0[idx], d[idx], cam)
        hit = ok.any(axis=1)
        if not hit.any():
            continue
        idx, lo, hi, ok = idx[hit], lo[hit], hi[hit], ok[hit]
        sl, cu = seglen[idx], cum[idx]
        s_in = np.where(ok, cu + lo * sl, np.inf).min(axis=1)
        s_out = np.where(ok, cu + hi * sl, -np.inf).max(axis=1)
        # closest approach within the view
        w = np.array([cam.x, cam.y]) - p0[idx]
        dd = d[idx]
        u = np.clip((w * dd).sum(axis=2) / np.maximum(seglen2[idx], 1e-9), lo, hi)
        q = p0[idx] + u[..., None] * dd
        dist = np.where(ok, np.hypot(q[..., 0] - cam.x, q[..., 1] - cam.y), np.inf)
        best = dist.argmin(axis=1)
        rows = np.arange(len(idx))
        along = cu[rows, best] + u[rows, best] * sl[rows, best]
        t0, t1, mpm = legs.t0[idx], legs.t1[idx], ms_per_m[idx]
        t_pass = t0 + np.round(along * mpm).astype(np.int64)
        t_in = np.maximum(t0 + np.round(s_in * mpm).astype(np.int64), t0)
        t_out = np.minimum(t0 + np.round(s_out * mpm).astype(np.int64), t1)
        ends_here = legs.dest_place[idx] == gate_place[ci]
        t_out = np.where(ends_here, t1 + legs.linger_ms[idx], t_out)
        out.append((np.full(len(idx), ci), legs.person[idx], t_in, t_out, t_pass))
    if not out:
        e = np.zeros(0, dtype=np.int64)
        return Passes(e, e, e, e, e)
    cols = [np.concatenate([o[i] for o in out]) for i in range(5)]
    return Passes(*cols)


@dataclass(frozen=True)
class ExtraOuting:
    """Outings a scenario adds to a day: ``persons`` go home -> ``places`` -> home.

    ``time_ms`` (time of day) is each person's arrival at the first place (``anchor``
    "arrive") or departure from home ("depart"); ``dwell_ms`` one array per place. Whatever
    else these persons had planned that day is dropped.
    """

    persons: np.ndarray
    places: list[np.ndarray]
    dwell_ms: list[np.ndarray]
    time_ms: np.ndarray
    anchor: str = "arrive"


def with_outings(
    town: TownMap,
    pop: Population,
    plan: DayPlan,
    outings: list[ExtraOuting],
    rng: np.random.Generator,
    drop: np.ndarray | None = None,
) -> DayPlan:
    """``plan`` with ``outings`` in place of those persons' own plans; ``drop``: stay home."""
    outings = [o for o in outings if len(o.persons)]
    dropped = np.zeros(0, dtype=np.int64) if drop is None else np.asarray(drop, dtype=np.int64)
    if not outings and not len(dropped):
        return plan
    moved = np.unique(np.concatenate([dropped, *(o.persons for o in outings)]))
    b = _LegBuilder(town, pop, rng, plan.day)
    for o in outings:
        b.outing(o.persons, o.places, o.dwell_ms, o.time_ms, o.anchor)
    extra = b.plan()
    keep = ~np.isin(plan.legs.person, moved)
    old = plan.legs
    legs = Legs(
        *(
            np.concatenate([getattr(old, f)[keep], getattr(extra.legs, f)])
            for f in ("person", "t0", "t1", "dest_place", "orig_place", "linger_ms", "speed")
        ),
        paths=np.concatenate([old.paths[keep], extra.legs.paths]),
    )
    vkeep = ~np.isin(plan.visit_person, moved)
    away_start = plan.away_start.copy()
    away_end = plan.away_end.copy()
    away_start[moved], away_end[moved] = extra.away_start[moved], extra.away_end[moved]
    out = DayPlan(
        day=plan.day,
        legs=legs,
        visit_person=np.concatenate([plan.visit_person[vkeep], extra.visit_person]),
        visit_place=np.concatenate([plan.visit_place[vkeep], extra.visit_place]),
        visit_arrive=np.concatenate([plan.visit_arrive[vkeep], extra.visit_arrive]),
        visit_leave=np.concatenate([plan.visit_leave[vkeep], extra.visit_leave]),
        away_start=away_start,
        away_end=away_end,
    )
    out.n_households = plan.n_households
    out._household = plan._household
    return out
