"""The seeded model of Aqkol: :class:`Town` turns a seed into a stream of contract events.

Randomness: ``SeedSequence(seed).spawn(N)`` gives one independent stream per subsystem
(weather, gas, people, vehicles, cameras, environment stations), and each subsystem draws
its event ids from its own child stream. So adding a camera changes neither the gas
readings nor their ids; the same seed and parameters give a byte-identical event stream,
and a longer run starts with exactly the events of a shorter one.

Scheduling is by simulated time, not threads: each subsystem yields its events in time
order and a heap merges them (ties broken by subsystem, then by order within it).

Ground truth (who really passed the camera, was the match true, who was at home) never
goes into an event; :meth:`Town.events` hands it to a separate ``truth`` callback, which the
publisher writes to the run folder.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
from ulid import ULID

from services.events import KINDS, event_dict
from services.geo import to_latlon
from simulator.cameras import CameraSystem
from simulator.clock import DEFAULT_START, HOUR_MS, Clock
from simulator.faces import Enrollment, Recognition, build_watchlist
from simulator.gas import GasMeters
from simulator.geography import TownMap, build_town
from simulator.people import DayPlan, Population, child_seq, plan_day
from simulator.vehicles import Fleet
from simulator.weather import EnvStations, Weather

# Subsystem streams, in spawn order: never reorder, only append (it would change every run).
STREAMS = ("weather", "gas", "people", "vehicles", "cameras", "env")
SIM_KINDS = {
    "env": ("env.reading",),
    "gas": ("gas.reading",),
    "vehicles": ("vehicle.position",),
    "cameras": ("camera.crowd", "camera.face_match", "camera.object"),
}
MERGE_ORDER = ("env", "gas", "vehicles", "cameras")
ID_STREAM_KEY = 0xFFFF_FFFF  # child of a subsystem seed sequence that draws its event ids

TruthSink = Callable[[dict[str, Any]], None]


class Town:
    """A seeded, deterministic town of ~13,000 residents and its devices.

    Parameters (keyword only):
        seed: the run seed.
        start: aware datetime of the first event (converted to +06:00).
        population_scale: share of households simulated (0-1]; 1 = the whole town.
        temperature_offset_c: added to the weather (a scenario lever: negative = colder).
        fpir, female_fp_ratio, capture_rate, true_match_rate: see :class:`Recognition`.
        kinds: only produce these event kinds (default: all). Filtering never changes the
            events of the kinds kept.
        town_map: the map (default: :func:`build_town`).
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
        capture_rate: float = 0.7,
        true_match_rate: float = 0.9,
        kinds: Iterable[str] | None = None,
        town_map: TownMap | None = None,
    ):
        if not 0 < population_scale <= 1:
            raise ValueError("population_scale must be in (0, 1]")
        self.seed = int(seed)
        self.clock, self.t_start = Clock.starting(start)
        self.start = self.clock.dt(self.t_start)
        self.population_scale = population_scale
        self.temperature_offset_c = temperature_offset_c
        self.kinds = frozenset(kinds) if kinds is not None else frozenset(KINDS)
        unknown = self.kinds - {k for ks in SIM_KINDS.values() for k in ks}
        if unknown:
            raise ValueError(f"the simulator does not produce {sorted(unknown)}")
        self.map = town_map or build_town()
        self.recognition = Recognition(
            fpir=fpir,
            female_fp_ratio=female_fp_ratio,
            capture_rate=capture_rate,
            true_match_rate=true_match_rate,
        )
        root = np.random.SeedSequence(self.seed)
        self._ss = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))

        hh = self.map.households
        self.household_rows = np.flatnonzero(hh.sample_key < population_scale)
        people_rng = np.random.default_rng(child_seq(self._ss["people"], 0))
        self.population = Population.generate(self.map, self.household_rows, people_rng)
        self.watchlist: list[Enrollment] = build_watchlist(self.population, people_rng)
        self.weather = Weather(
            np.random.default_rng(child_seq(self._ss["weather"], 0)), temperature_offset_c
        )
        self._plans: dict[int, DayPlan] = {}

    # --- parameters and shared state ---------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The parameters that, with the code version, determine the event stream."""
        r = self.recognition
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "population_scale": self.population_scale,
            "temperature_offset_c": self.temperature_offset_c,
            "fpir": r.fpir,
            "female_fp_ratio": r.female_fp_ratio,
            "capture_rate": r.capture_rate,
            "true_match_rate": r.true_match_rate,
            "kinds": sorted(self.kinds),
            "households": len(self.household_rows),
            "residents": len(self.population),
        }

    def plan(self, day: int) -> DayPlan:
        """Every resident's outing on simulated day ``day`` (0 = the start day), cached."""
        if day not in self._plans:
            if len(self._plans) > 2:  # keep memory flat on long runs
                self._plans.pop(min(self._plans))
            rng = np.random.default_rng(child_seq(self._ss["people"], 1000 + day))
            self._plans[day] = plan_day(
                self.map, self.population, day, self.clock.weekday(day), rng
            )
        return self._plans[day]

    # --- events ---------------------------------------------------------------------------

    def _streams(self, t_start: int, t_end: int) -> dict[str, Iterator[tuple]]:
        ss = self._ss
        out: dict[str, Iterator[tuple]] = {}
        if "env.reading" in self.kinds:
            env = EnvStations(
                self.map.env_stations, self.weather, np.random.default_rng(child_seq(ss["env"], 0))
            )
            out["env"] = env.stream(t_start, t_end)
        if "gas.reading" in self.kinds:
            gas = GasMeters(
                self.map,
                self.household_rows,
                self.weather,
                self.plan,
                np.random.default_rng(child_seq(ss["gas"], 0)),
            )
            out["gas"] = gas.stream(t_start, t_end)
        if "vehicle.position" in self.kinds:
            out["vehicles"] = Fleet(self.map, ss["vehicles"], self.clock).stream(t_start, t_end)
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
        return out

    def _tagged(self, name: str, rank: int, stream: Iterator[tuple]) -> Iterator[tuple]:
        """Give each event its id (from the subsystem's own id stream) and a merge key."""
        ids = np.random.default_rng(child_seq(self._ss[name], ID_STREAM_KEY))
        unix0 = self.clock.unix_ms(0)
        kinds = self.kinds
        for seq, (t, kind, source, data, xy, truth) in enumerate(stream):
            rand = ids.bytes(10)  # drawn for every event, kept or not: filtering is stable
            if kind not in kinds:
                continue
            eid = str(ULID.from_bytes((unix0 + t).to_bytes(6, "big") + rand))
            yield t, rank, seq, kind, source, data, xy, truth, eid

    def events(self, hours: float, truth: TruthSink | None = None) -> Iterator[dict[str, Any]]:
        """Events of the next ``hours`` simulated hours, in non-decreasing ``ts`` order.

        ``truth``, if given, is called with the ground-truth record of each event that has
        one (``{"id", "kind", "source", "ts", ...}``) right before the event is yielded.
        """
        t_start = self.t_start
        t_end = t_start + round(hours * HOUR_MS)
        streams = self._streams(t_start, t_end)
        tagged = [
            self._tagged(name, rank, streams[name])
            for rank, name in enumerate(MERGE_ORDER)
            if name in streams
        ]
        dt = self.clock.dt
        for t, _rank, _seq, kind, source, data, xy, tr, eid in heapq.merge(*tagged):
            ts = dt(t)
            geo = to_latlon(float(xy[0]), float(xy[1])) if xy is not None else None
            event = event_dict(kind, source, ts, data, eid, geo)
            if truth is not None and tr is not None:
                truth({"id": eid, "kind": kind, "source": source, "ts": event["ts"], **tr})
            yield event
