"""The seeded model of Aqkol: :class:`Town` turns a seed into a stream of contract events.

Randomness: ``SeedSequence(seed).spawn(N)`` gives one independent stream per subsystem
(weather, gas and payments, people, vehicles, cameras, environment stations, scenario
incidents, school absences, municipal devices, the turnstile), and each subsystem draws
its event ids from its own child stream. So adding a camera changes neither the gas
readings nor their ids; the same seed and parameters give a byte-identical event stream,
and a longer run starts with exactly the events of a shorter one.

Scheduling is by simulated time, not threads: each subsystem yields its events in time
order and they are merged a few simulated minutes at a time, with ids, timestamps and
positions made in bulk per batch (ties broken by subsystem, then by order within it).

The people plan of a day (:meth:`Town.plan`) is the one account of who is where: cameras see
the walks that enter their field of view, gas meters the residents at home, the school
registers the pupils it sends to school in their class's shift, and the buses' occupancy
the residents it sends by bus (:mod:`simulator.transit`; the buses' timetable does not
depend on the people, so there is no loop). Walks and visits that run past midnight are
carried into the next day by cameras, meters and the truth (:meth:`DayPlan.spill`).

A scenario (:mod:`services.events.scenarios`) adds incidents: cold snaps change the weather,
gatherings and a missing child's walk change the day's people plan (so cameras and meters
see them), a gas leak adds flow at one meter; each incident's truth record is handed to the
``truth`` callback before the first event.

Ground truth (who really passed the camera, was the match true, who was at home) never
goes into an event; :meth:`Town.events` hands it to a separate ``truth`` callback, which the
publisher writes to the run folder.

Town parameters (:data:`TOWN_PARAMETERS`): the keyword arguments of :class:`Town` that change
the town rather than the run (population scale, face-recognition error rates, the camera
network, the gas meters' interval, the watch lists). The lab sweeps them like mesa's
``batch_run`` (``grid:`` of an experiment file, docs/lab.md); their defaults are the
shipped town, whose events do not change. :meth:`Town.run` gives a run as pandas
DataFrames (docs/python-api.md).
"""

from __future__ import annotations

import inspect
import numbers
import typing
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from services.events import KINDS, SCHEMA_ID
from services.events.geo import to_latlon
from services.events.scenarios import (
    GasLeak,
    MarketDay,
    MissingChild,
    Protest,
    Scenario,
    incident_records,
)
from simulator.access import Turnstile
from simulator.cameras import CameraSystem
from simulator.clock import DAY_MS, DEFAULT_START, HOUR_MS, MINUTE_MS, Clock
from simulator.devices import Devices
from simulator.faces import WATCHLIST_SIZES, Enrollment, Recognition, build_watchlist
from simulator.gas import INTERVAL_MIN, GasMeters, Leak, day_shapes
from simulator.geography import DEFAULT_CAMERAS, TownMap, camera_limits
from simulator.geography import town_map as map_with_cameras
from simulator.people import (
    ROLE_HOME,
    ROLE_PUPIL,
    ROLE_RETIREE,
    DayPlan,
    ExtraOuting,
    Population,
    child_seq,
    day_key,
    plan_day,
    with_outings,
)
from simulator.schools import Schools
from simulator.transit import riders_by_bus, with_bus_rides
from simulator.vehicles import Fleet, Riders
from simulator.weather import EnvStations, Weather

if TYPE_CHECKING:
    from simulator.frames import TownRun

# Subsystem streams, in spawn order: never reorder, only append (it would change every run).
STREAMS = (
    "weather", "gas", "people", "vehicles", "cameras", "env", "scenario", "schools", "devices",
    "access",
)  # fmt: skip
SIM_KINDS = {
    "env": ("env.reading",),
    "gas": ("gas.reading", "payment.gas"),
    "vehicles": ("vehicle.position",),
    "cameras": ("camera.crowd", "camera.face_match", "camera.object"),
    "schools": ("school.attendance",),
    "devices": ("stop.status", "streetlight.status", "solar.output"),
    "access": ("access.entry",),
}
MERGE_ORDER = ("env", "gas", "vehicles", "cameras", "schools", "devices", "access")
ID_STREAM_KEY = 0xFFFF_FFFF  # child of a subsystem seed sequence that draws its event ids
RIDES_KEY = 0xB05_0000  # + day: child of the people stream that picks who rides a bus

WINDOW_MS = 5 * MINUTE_MS  # the events of this much simulated time are merged at once

GEO_CACHE = 100_000  # positions whose (lat, lon) is kept, for devices that do not move

TruthSink = Callable[[dict[str, Any]], None]


# keyword arguments of Town that are not town parameters (the run's, or objects)
NOT_PARAMETERS = ("seed", "start", "kinds", "town_map", "scenario")


def _unit(name: str, v: float | None) -> str | None:
    if v is not None and not 0 <= v <= 1:
        return f"{name} must be between 0 and 1, not {v}"
    return None


def check_parameters(params: dict[str, Any]) -> None:
    """Refuse town parameters that are unknown or out of range (``ValueError``, naming the
    parameter), without building a town: what an experiment file is checked with."""
    unknown = sorted(set(params) - set(TOWN_PARAMETERS))
    if unknown:
        raise ValueError(
            f"unknown town parameter {unknown[0]!r} (town parameters: {', '.join(TOWN_PARAMETERS)})"
        )
    p = {name: spec.default for name, spec in TOWN_PARAMETERS.items()} | params
    for name, spec in TOWN_PARAMETERS.items():
        v = p[name]
        want = spec.kind
        number = numbers.Real if want is float else numbers.Integral
        ok = (v is None and spec.optional) or (isinstance(v, number) and not isinstance(v, bool))
        if not ok:
            raise ValueError(
                f"{name} must be {'an integer' if want is int else 'a number'}, not {v!r}"
            )
    problems = [
        None if 0 < p["population_scale"] <= 1 else "population_scale must be in (0, 1]",
        None
        if -40 <= p["temperature_offset_c"] <= 40
        else "temperature_offset_c must be in [-40, 40]",
        _unit("fpir", p["fpir"]),
        _unit("capture_rate", p["capture_rate"]),
        _unit("true_match_rate", p["true_match_rate"]),
        _unit("miss_rate_best", p["miss_rate_best"]),
        _unit("miss_rate_worst", p["miss_rate_worst"]),
        None
        if p["miss_rate_best"] <= p["miss_rate_worst"]
        else "miss_rate_best must not be above miss_rate_worst",
    ]
    for name in ("female_fp_ratio", "child_fp_factor", "elderly_fp_factor"):
        if not 0 < p[name] <= 100:
            problems.append(f"{name} must be in (0, 100], not {p[name]}")
    if p["camera_spacing"] < 1 or p["camera_spacing"] > 10:
        problems.append(f"camera_spacing must be between 1 and 10, not {p['camera_spacing']}")
    else:
        lo, hi = camera_limits(p["camera_spacing"])
        if not lo <= p["cameras"] <= hi:
            every = "" if p["camera_spacing"] == 1 else f" at camera_spacing {p['camera_spacing']}"
            problems.append(f"cameras must be between {lo} and {hi}{every}, not {p['cameras']}")
    try:
        day_shapes(p["gas_interval_min"])
    except ValueError as exc:
        problems.append(str(exc))
    for wl in WATCHLIST_SIZES:
        size, res = p[f"watchlist_{wl}"], p[f"watchlist_{wl}_residents"]
        if not 0 <= size <= 200:
            problems.append(f"watchlist_{wl} must be between 0 and 200, not {size}")
        elif not 0 <= res <= size:
            problems.append(
                f"watchlist_{wl}_residents must be between 0 and watchlist_{wl} ({size})"
            )
    for msg in problems:
        if msg:
            raise ValueError(msg)


class Town:
    """A seeded, deterministic town of ~13,000 residents and its devices.

    Parameters (keyword only):
        seed: the run seed.
        start: aware datetime of the first event (converted to +06:00).
        kinds: only produce these event kinds (default: all). Filtering never changes the
            events of the kinds kept.
        town_map: the map (default: the shipped map with the camera network of
            ``cameras`` and ``camera_spacing``).
        scenario: incidents to play (:mod:`services.events.scenarios`); its temperature
            offset is
            added to ``temperature_offset_c``. The incidents draw from their own stream.

    Town parameters (:data:`TOWN_PARAMETERS`; the defaults are the shipped town):
        population_scale: share of households simulated (0-1]; 1 = the whole town.
        temperature_offset_c: added to the weather (a scenario lever: negative = colder).
        fpir: false-positive identification rate per face search, population average.
        female_fp_ratio, child_fp_factor, elderly_fp_factor: the demographic multipliers of
            false matches (women against men; children and the elderly against adults).
        capture_rate: share of passes of a recognition camera that give a searchable face.
        miss_rate_best, miss_rate_worst: the miss rate (FNIR) of a watch-listed face at the
            best and the poorest camera image; ``true_match_rate`` (if set) replaces both
            with one rate (1 - FNIR) for every camera. See :class:`Recognition`.
        cameras: how many cameras (places and bus stops first, then intersections).
        camera_spacing: intersection cameras only where every n-th street crosses: the same
            number of cameras spread thinner (placement density).
        gas_interval_min: the gas meters' reading interval, minutes (a divisor of a day).
        watchlist_wanted, watchlist_missing, watchlist_activist: entries on each watch list;
            ``watchlist_<list>_residents``: how many of them live in Aqkol (and so can pass
            a camera). The activist list is a MISUSE demonstration (see simulator/faces.py).

    An unknown keyword is refused (``TypeError``), a value out of range too (``ValueError``,
    :func:`check_parameters`). :meth:`run` gives a run as pandas DataFrames.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        start: datetime = DEFAULT_START,
        population_scale: float = 1.0,
        temperature_offset_c: float = 0.0,
        fpir: float = 0.003,
        female_fp_ratio: float = 3.0,
        child_fp_factor: float = 1.5,
        elderly_fp_factor: float = 1.3,
        capture_rate: float = 0.7,
        true_match_rate: float | None = None,
        miss_rate_best: float = 0.05,
        miss_rate_worst: float = 0.40,
        cameras: int = DEFAULT_CAMERAS,
        camera_spacing: int = 1,
        gas_interval_min: int = INTERVAL_MIN,
        watchlist_wanted: int = WATCHLIST_SIZES["wanted"][0],
        watchlist_wanted_residents: int = WATCHLIST_SIZES["wanted"][1],
        watchlist_missing: int = WATCHLIST_SIZES["missing"][0],
        watchlist_missing_residents: int = WATCHLIST_SIZES["missing"][1],
        watchlist_activist: int = WATCHLIST_SIZES["activist"][0],
        watchlist_activist_residents: int = WATCHLIST_SIZES["activist"][1],
        kinds: Iterable[str] | None = None,
        town_map: TownMap | None = None,
        scenario: Scenario | None = None,
    ):
        self._init = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        parameters = {name: self._init[name] for name in TOWN_PARAMETERS}
        check_parameters(parameters)
        self.parameters = parameters
        self.seed = int(seed)
        self.clock, self.t_start = Clock.starting(start)
        self.start = self.clock.dt(self.t_start)
        self.population_scale = population_scale
        self.scenario = scenario
        if scenario is not None:
            temperature_offset_c += scenario.temperature_offset_c
        self.temperature_offset_c = temperature_offset_c
        self.kinds = frozenset(kinds) if kinds is not None else frozenset(KINDS)
        unknown = self.kinds - {k for ks in SIM_KINDS.values() for k in ks}
        if unknown:
            raise ValueError(f"the simulator does not produce {sorted(unknown)}")
        self.map = town_map or map_with_cameras(cameras, camera_spacing)
        self.gas_interval_min = gas_interval_min
        self.recognition = Recognition(
            fpir=fpir,
            female_fp_ratio=female_fp_ratio,
            child_fp_factor=child_fp_factor,
            elderly_fp_factor=elderly_fp_factor,
            capture_rate=capture_rate,
            true_match_rate=true_match_rate,
            miss_rate_best=miss_rate_best,
            miss_rate_worst=miss_rate_worst,
        )
        root = np.random.SeedSequence(self.seed)
        self._ss = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))

        hh = self.map.households
        self.household_rows = np.flatnonzero(hh.sample_key < population_scale)
        people_rng = np.random.default_rng(child_seq(self._ss["people"], 0))
        self.population = Population.generate(self.map, self.household_rows, people_rng)
        sizes = {
            wl: (parameters[f"watchlist_{wl}"], parameters[f"watchlist_{wl}_residents"])
            for wl in WATCHLIST_SIZES
        }
        self.watchlist: list[Enrollment] = build_watchlist(self.population, people_rng, sizes)
        snaps = tuple(
            (i.t0, i.end(), i.depth_c)
            for i in (scenario.incidents if scenario else ())
            if i.type == "cold_snap"
        )
        self.weather = Weather(
            np.random.default_rng(child_seq(self._ss["weather"], 0)),
            temperature_offset_c,
            snaps,
            start_doy=self.clock.epoch.timetuple().tm_yday - 1,
        )
        self.schools = Schools(
            self.map, self.population, self.weather, self.clock, self._ss["schools"], self.plan
        )
        self.fleet = Fleet(self.map, self._ss["vehicles"], self.clock)
        self._plans: dict[int, DayPlan] = {}
        self._incident_detail: dict[int, dict[str, Any]] = {}
        self.leaks = self._leaks()

    # --- parameters and shared state ---------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The parameters that, with the code version, determine the event stream (every
        town parameter; ``temperature_offset_c`` with the scenario's added)."""
        return {
            **self.parameters,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "temperature_offset_c": self.temperature_offset_c,
            "kinds": sorted(self.kinds),
            "scenario": None if self.scenario is None else self.scenario.name,
            "households": len(self.household_rows),
            "residents": len(self.population),
        }

    def plan(self, day: int) -> DayPlan:
        """Every resident's outing on simulated day ``day`` (0 = the start day), cached."""
        if day not in self._plans:
            if len(self._plans) > 2:  # keep memory flat on long runs
                self._plans.pop(min(self._plans))
            rng = np.random.default_rng(child_seq(self._ss["people"], 1000 + day))
            plan = plan_day(
                self.map,
                self.population,
                day,
                self.clock.weekday(day),
                rng,
                school_shift=self.schools.shift_of,
            )
            absent = self.schools.absent_residents(day)  # pupils kept home: no walk to school
            plan = with_outings(self.map, self.population, plan, [], rng, drop=absent)
            if self.scenario is not None:
                plan = self._scenario_day(day, plan)
            rides_rng = np.random.default_rng(child_seq(self._ss["people"], RIDES_KEY + day))
            plan = with_bus_rides(self.map, self.population, plan, self.fleet, rides_rng)
            self._plans[day] = plan
        return self._plans[day]

    def riders(self, day: int) -> dict[str, Riders]:
        """Each bus's riders on ``day`` (from the day's plan): the buses' occupancy."""
        return riders_by_bus(self.plan(day), self.fleet)

    # --- scenario incidents ----------------------------------------------------------------

    def _watchlisted(self, watchlist: str) -> list[int]:
        return [e.resident for e in self.watchlist if e.watchlist == watchlist and e.resident]

    def _leaks(self) -> tuple[Leak, ...]:
        if self.scenario is None:
            return ()
        hh = self.map.households
        rows = self.household_rows
        candidates = rows[hh.gas_meter[rows] & (hh.heating[rows] == 0)]
        leaks = []
        for n, inc in enumerate(self.scenario.incidents):
            if not isinstance(inc, GasLeak):
                continue
            if inc.household is None:
                rng = np.random.default_rng(child_seq(self._ss["scenario"], 100_000 + n))
                row = int(rng.choice(candidates))
            else:
                row = int(inc.household[3:]) - 1
                if row not in set(rows.tolist()) or not hh.gas_meter[row]:
                    raise ValueError(f"{inc.household} has no gas meter in this town")
            leaks.append(Leak(row, inc.t0, inc.end(), inc.m3_per_interval))
            self._incident_detail[n] = {"household": hh.id(row), "meter": f"gas-{row + 1:04d}"}
        return tuple(leaks)

    def _scenario_day(self, day: int, plan: DayPlan) -> DayPlan:
        """The day's plan with the scenario's gatherings and walks in it."""
        assert self.scenario is not None
        rng = np.random.default_rng(child_seq(self._ss["scenario"], day_key(day)))
        pop, places = self.population, {p.id: i for i, p in enumerate(self.map.places)}
        # at home all day: can join in (not pupils: a pupil kept home is absent, and home)
        free = (plan.away_start < 0) & (pop.age >= 16) & (pop.role != ROLE_PUPIL)
        # market day: anyone at home in the day (not at work or school) who is not going anyway
        shopper = (pop.age >= 16) & np.isin(pop.role, (ROLE_HOME, ROLE_RETIREE))
        shopper[plan.visit_person[np.isin(plan.visit_place, [places["market"]])]] = False
        outings: list[ExtraOuting] = []
        for n, inc in enumerate(self.scenario.incidents):
            if inc.day != day:
                continue
            t0 = inc.t0 - day * DAY_MS
            if isinstance(inc, MissingChild):
                child = self._watchlisted("missing")[:1]
                route = [np.full(len(child), places[p]) for p in inc.route]
                dwell = [np.full(len(child), round(inc.dwell_min * 60_000))] * len(route)
                who = np.array(child, dtype=np.int64)
                outings.append(ExtraOuting(who, route, dwell, np.array([t0]), "depart"))
                free[child] = False
                self._incident_detail[n] = {
                    "resident": None if not child else Population.id(child[0]),
                    "enrollment_id": next(
                        (e.id for e in self.watchlist if e.resident in child), None
                    ),
                }
            elif isinstance(inc, Protest | MarketDay):
                dur = inc.end() - inc.t0
                forced: list[int] = []
                if isinstance(inc, Protest) and inc.activists_attend:
                    forced = self._watchlisted("activist")
                pool = np.flatnonzero(free if isinstance(inc, Protest) else shopper)
                pool = pool[~np.isin(pool, forced)]
                want = (inc.crowd if isinstance(inc, Protest) else inc.extra_visitors) - len(forced)
                join = rng.choice(pool, size=min(max(want, 0), len(pool)), replace=False)
                join.sort()
                k = len(join)
                if isinstance(inc, Protest):  # arrivals spread over 2/3: the crowd grows
                    arrive = t0 + rng.uniform(0, 2 / 3, k) * dur
                    leave = t0 + dur + rng.normal(0, 5, k) * 60_000
                else:  # market: come and go through the window
                    arrive = t0 + rng.uniform(0, 1, k) * dur
                    leave = arrive + rng.uniform(20, 70, k) * 60_000
                persons = np.concatenate([np.array(forced, dtype=np.int64), join])
                arrive = np.concatenate([t0 + rng.uniform(0, 10, len(forced)) * 60_000, arrive])
                leave = np.concatenate([np.full(len(forced), t0 + dur, dtype=float), leave])
                dwell = np.maximum(leave - arrive, 5 * 60_000).astype(np.int64)
                where = np.full(len(persons), places[inc.place])
                outings.append(ExtraOuting(persons, [where], [dwell], arrive.astype(np.int64)))
                free[persons] = False
                shopper[persons] = False
                self._incident_detail[n] = {
                    "participants": len(persons),
                    "activists_attending": [Population.id(int(p)) for p in forced],
                    "activist_list_note": "MISUSE demo: a watch list of people's opinions"
                    if forced
                    else None,
                }
        return with_outings(self.map, pop, plan, outings, rng)

    def incidents(self, t_end: int) -> list[dict[str, Any]]:
        """Ground-truth records of the scenario's incidents that start before ``t_end``."""
        if self.scenario is None:
            return []
        iso = lambda t: self.clock.dt(t).isoformat()  # noqa: E731
        out = []
        for n, (inc, rec) in enumerate(
            zip(self.scenario.incidents, incident_records(self.scenario, iso), strict=True)
        ):
            if inc.t0 >= t_end:
                continue
            if isinstance(inc, Protest | MarketDay | MissingChild):
                plan = self.plan(inc.day)
            if isinstance(inc, MissingChild):
                child = self._watchlisted("missing")[:1]
                sel = np.isin(plan.visit_person, child)
                rec["visits"] = [
                    {"place": self.map.places[int(p)].id, "arrive": iso(a), "leave": iso(b)}
                    for p, a, b in zip(
                        plan.visit_place[sel],
                        plan.visit_arrive[sel],
                        plan.visit_leave[sel],
                        strict=True,
                    )
                ]
                if child:
                    rec["end"] = iso(int(plan.away_end[child[0]]))
            rec.update(self._incident_detail.get(n, {}))
            out.append(rec)
        return out

    # --- events ---------------------------------------------------------------------------

    def run(
        self,
        hours: float | None = None,
        scenario: str | Scenario | None = None,
        *,
        truth: bool = True,
    ) -> TownRun:
        """Simulate ``hours`` from the town's start and return the events and the ground
        truth as pandas DataFrames (:class:`simulator.frames.TownRun`).

        ``scenario``: a scenario name (``scenarios/``), a path, or a :class:`Scenario`,
        played from the town's start (default: the town's own, if any). ``hours``: default
        the scenario's, else 24. ``truth=False`` skips the truth tables that need the
        truth database (residents, households, stays, sightings, cameras): faster.

        The town itself is not advanced: the run is made by a fresh town of the same
        seed and parameters, so ``run`` gives the same tables every time.
        """
        from services.events.scenarios import load_scenario
        from simulator.frames import run_town

        sc = self.scenario
        if scenario is not None:
            sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        if hours is None:
            hours = (sc.hours if sc is not None else None) or 24.0
        fresh = Town(**{**self._init, "town_map": self.map, "scenario": sc})
        return run_town(fresh, hours, truth=truth)

    def _streams(self, t_start: int, t_end: int) -> dict[str, Iterator[tuple]]:
        ss = self._ss
        out: dict[str, Iterator[tuple]] = {}
        if "env.reading" in self.kinds:
            env = EnvStations(
                self.map.env_stations, self.weather, np.random.default_rng(child_seq(ss["env"], 0))
            )
            out["env"] = env.stream(t_start, t_end)
        if self.kinds & set(SIM_KINDS["gas"]):
            gas = GasMeters(
                self.map,
                self.household_rows,
                self.weather,
                self.plan,
                np.random.default_rng(child_seq(ss["gas"], 0)),
                self.leaks,
                np.random.default_rng(child_seq(ss["gas"], 1)),
                interval_min=self.gas_interval_min,
            )
            out["gas"] = gas.stream(t_start, t_end)
        if "vehicle.position" in self.kinds:
            out["vehicles"] = self.fleet.stream(t_start, t_end, self.riders)
        if self.kinds & set(SIM_KINDS["cameras"]):
            cams = CameraSystem(
                self.map,
                self.population,
                self.watchlist,
                self.recognition,
                self.plan,
                ss["cameras"],
            )
            out["cameras"] = cams.stream(t_start, t_end)
        if "school.attendance" in self.kinds:
            out["schools"] = self.schools.stream(t_start, t_end)
        if self.kinds & set(SIM_KINDS["devices"]):
            rng = np.random.default_rng(child_seq(ss["devices"], 0))
            out["devices"] = Devices(self.map, self.weather, self.clock, rng).stream(t_start, t_end)
        if "access.entry" in self.kinds:
            gate = Turnstile(self.map, self.population, self.plan, ss["access"])
            out["access"] = gate.stream(t_start, t_end)
        return out

    def events(self, hours: float, truth: TruthSink | None = None) -> Iterator[dict[str, Any]]:
        """Events of the next ``hours`` simulated hours, in non-decreasing ``ts`` order.

        ``truth``, if given, is called with the ground-truth record of each event that has
        one (``{"id", "kind", "source", "ts", ...}``) right before the event is yielded.

        The subsystems are merged a window of simulated time at a time (:data:`WINDOW_MS`):
        each one's events of the window are taken at once, given their ids, timestamps and
        positions in bulk (numpy), then sorted by (time, subsystem, order within it), the
        order a one-by-one heap merge gives.
        """
        t_start = self.t_start
        t_end = t_start + round(hours * HOUR_MS)
        streams = self._streams(t_start, t_end)
        feeds = [
            _Feed(streams[name], np.random.default_rng(child_seq(self._ss[name], ID_STREAM_KEY)))
            for name in MERGE_ORDER
            if name in streams
        ]
        if truth is not None:
            for rec in self.incidents(t_end):
                truth(rec)
        stamp = _Stamper(self.clock)
        kinds = self.kinds
        places: dict[Any, tuple[float, float]] = {}  # (x, y) -> rounded (lat, lon)
        every_kind = kinds >= {k for ks in SIM_KINDS.values() for k in ks}
        while True:
            heads = [f.head[0] for f in feeds if f.head is not None]
            if not heads:
                return
            until = min(heads) + WINDOW_MS
            batch: list[tuple] = []
            rand: list[np.ndarray] = []
            for f in feeds:
                taken = f.take(until)
                if taken:
                    batch += taken
                    # drawn for every event, kept or not: filtering is stable
                    rand.append(f.ids.integers(0, 1 << 32, 3 * len(taken), dtype=np.uint32))
            t = np.fromiter((e[0] for e in batch), np.int64, len(batch))
            order = np.argsort(t, kind="stable").tolist()  # ties: subsystem, then its order
            ids = stamp.ids(t, np.concatenate(rand))
            tss = stamp.iso(t)
            for i in order:
                _t, kind, source, data, xy, tr = batch[i]
                if not every_kind and kind not in kinds:
                    continue
                eid, ts = ids[i], tss[i]
                event = {"schema": SCHEMA_ID, "id": eid, "kind": kind, "source": source, "ts": ts}
                if xy is not None:
                    ll = places.get(xy)  # most devices stay put: their position is known
                    if ll is None:
                        if len(places) > GEO_CACHE:
                            places.clear()
                        lat, lon = to_latlon(float(xy[0]), float(xy[1]))
                        ll = places[xy] = (round(lat, 6), round(lon, 6))
                    event["geo"] = {"lat": ll[0], "lon": ll[1]}
                event["data"] = data
                if truth is not None and tr is not None:
                    truth({"id": eid, "kind": kind, "source": source, "ts": ts, **tr})
                yield event


def _parameters() -> dict[str, Parameter]:
    hints = typing.get_type_hints(Town.__init__)
    out = {}
    for name, p in inspect.signature(Town.__init__).parameters.items():
        if name == "self" or name in NOT_PARAMETERS:
            continue
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        kind = args[0] if args else hint
        out[name] = Parameter(name, kind, p.default, optional=bool(args))
    return out


class Parameter(typing.NamedTuple):
    """One town parameter: its name, type (``int`` or ``float``), default, and whether it
    may be None."""

    name: str
    kind: type
    default: Any
    optional: bool


# every town parameter, from Town's signature (adding a keyword to Town makes it sweepable)
TOWN_PARAMETERS: dict[str, Parameter] = _parameters()


class _Feed:
    """One subsystem's stream with its next event in view, and its id generator."""

    def __init__(self, stream: Iterator[tuple], ids: np.random.Generator):
        self.stream = stream
        self.ids = ids
        self.head: tuple | None = next(stream, None)

    def take(self, until: int) -> list[tuple]:
        """The stream's events before ``until`` (simulated ms)."""
        out = []
        head, stream = self.head, self.stream
        while head is not None and head[0] < until:
            out.append(head)
            head = next(stream, None)
        self.head = head
        return out


_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", np.uint8)
_FIVE_BITS = np.array([16, 8, 4, 2, 1], np.uint8)


class _Stamper:
    """Event ids and ISO timestamps of many simulated times at once."""

    def __init__(self, clock: Clock):
        self.unix0 = clock.unix_ms(0)
        self.local0 = np.datetime64(clock.epoch.replace(tzinfo=None), "ms")
        self.offset = clock.epoch.isoformat()[-6:]  # "+06:00"

    def ids(self, t: np.ndarray, words: np.ndarray) -> list[str]:
        """ULIDs: 48-bit Unix ms, then 10 random bytes per event (the first 10 of three
        little-endian uint32 words, as ``Generator.bytes(10)`` draws them)."""
        n = len(t)
        raw = np.empty((n, 16), np.uint8)
        raw[:, :6] = (self.unix0 + t).astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
        raw[:, 6:] = words.astype("<u4").view(np.uint8).reshape(n, 12)[:, :10]
        bits = np.zeros((n, 130), np.uint8)  # 26 base-32 digits: two leading zero bits
        bits[:, 2:] = np.unpackbits(raw, axis=1)
        text = _CROCKFORD[bits.reshape(n, 26, 5) @ _FIVE_BITS].tobytes().decode("ascii")
        return [text[i : i + 26] for i in range(0, 26 * n, 26)]

    def iso(self, t: np.ndarray) -> list[str]:
        """``datetime.isoformat()`` of each time: no fraction on a whole second, else
        microseconds."""
        text = np.datetime_as_string(self.local0 + t.astype("timedelta64[ms]"), unit="ms")
        whole = (t % 1000 == 0).tolist()
        tz, frac = self.offset, "000" + self.offset
        return [s[:19] + tz if w else s + frac for s, w in zip(text.tolist(), whole, strict=True)]
