"""Ground truth of a run in SQLite: who lived where, who was where when, who passed which camera.

Written to ``runs/<run-id>/truth.sqlite`` next to ``truth.jsonl``; never sent over MQTT.

Tables:

- ``residents`` (id, name, sex, age, age_group, role, household, day_place): ``day_place`` is
  the place of work or school (NULL for those who stay at home);
- ``households`` (id, dwelling, floor_area_m2, heating, fuel, gas_meter, insulation_class,
  k_kwh_per_degree_day, residents, account): the hidden attributes;
- ``stays`` (resident, place, kind, t_from, t_to, t_from_ms, t_to_ms): every resident's
  place over the run, without gaps or overlaps, across midnight too: ``home``, a place id
  (kind ``school``, ``work``, ``shop``, ``market``, ...), ``street`` (walking between
  places, past cameras), a bus stop id (kind ``stop``: waiting for the bus) or a bus trip
  id (kind ``bus``: riding it; the trip id is the ``trip_id`` of ``vehicle.position``);
- ``sightings`` (camera, resident, ts, ts_ms, t_in_ms, t_out_ms): every time a resident
  truly passed through a camera's field of view (a point of the walk within ``range_m`` and
  within ``fov_deg / 2`` of ``heading_deg``), ``ts`` the closest approach in view (when a
  face would be captured);
- ``incidents`` (n, type, start, end, record): the scenario's incidents (``record`` JSON);
- ``cameras`` (id, place, site, x, y, face, quality, heading_deg, fov_deg, range_m): every
  camera and its field of view (a sighting is a pass within ``range_m`` inside the view).

Times: ``*_ms`` are Unix milliseconds, text times are ISO 8601 in +06:00 like the events.
The content is recomputed from the same seeded day plans the events come from, so it
matches them exactly.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulator.cameras import CameraSystem
from simulator.clock import DAY_MS, HOUR_MS
from simulator.gas import household_truth
from simulator.model import Town
from simulator.names import NameMaker
from simulator.people import AGE_GROUPS, HOME, Population, age_group, child_seq
from simulator.transit import STAY_BUS

ROLE_NAMES = ("small child", "pupil", "commuter", "at home", "retiree")
NAME_STREAM_KEY = 0xA11CE  # a child of the people stream used only for residents' names

SCHEMA = """
CREATE TABLE residents (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, age INTEGER NOT NULL,
    age_group TEXT NOT NULL, role TEXT NOT NULL, household TEXT NOT NULL, day_place TEXT
);
CREATE TABLE households (
    id TEXT PRIMARY KEY, dwelling TEXT, floor_area_m2 REAL, heating TEXT, fuel TEXT,
    gas_meter INTEGER, insulation_class TEXT, k_kwh_per_degree_day REAL, residents INTEGER,
    account TEXT
);
CREATE TABLE stays (
    resident TEXT NOT NULL, place TEXT NOT NULL, kind TEXT NOT NULL,
    t_from TEXT NOT NULL, t_to TEXT NOT NULL, t_from_ms INTEGER NOT NULL, t_to_ms INTEGER NOT NULL
);
CREATE TABLE sightings (
    camera TEXT NOT NULL, resident TEXT NOT NULL, ts TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    t_in_ms INTEGER NOT NULL, t_out_ms INTEGER NOT NULL
);
CREATE TABLE incidents (
    n INTEGER PRIMARY KEY, type TEXT NOT NULL, start TEXT, "end" TEXT, record TEXT NOT NULL
);
CREATE TABLE cameras (
    id TEXT PRIMARY KEY, place TEXT NOT NULL, site TEXT NOT NULL, x REAL NOT NULL,
    y REAL NOT NULL, face INTEGER NOT NULL, quality REAL NOT NULL, heading_deg REAL NOT NULL,
    fov_deg REAL NOT NULL, range_m REAL NOT NULL
);
"""
INDEXES = """
CREATE INDEX stays_resident ON stays (resident, t_from_ms);
CREATE INDEX sightings_camera ON sightings (camera, ts_ms);
CREATE INDEX sightings_resident ON sightings (resident, ts_ms);
"""


def _place_kind(kind: str, role_place: bool, role: int) -> str:
    if role_place:
        return "school" if role == 1 else "work"
    return kind


def write_truth_db(town: Town, path: Path, hours: float) -> dict[str, int]:
    """Write the ground truth of ``hours`` from the town's start to ``path``; row counts."""
    path = Path(path)
    if path.exists():
        path.unlink()
    t_start = town.t_start
    t_end = t_start + round(hours * HOUR_MS)
    clock = town.clock
    unix0 = clock.unix_ms(0)
    iso = lambda t: clock.dt(int(t)).isoformat()  # noqa: E731
    pop, tmap = town.population, town.map
    places = tmap.places
    hh = tmap.households
    counts: dict[str, int] = {}
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        # residents
        names = NameMaker(np.random.default_rng(child_seq(town._ss["people"], NAME_STREAM_KEY)))
        groups = age_group(pop.age)
        rows = []
        for i in range(len(pop)):
            dp = int(pop.day_place[i])
            rows.append(
                (
                    Population.id(i),
                    names.name(bool(pop.sex[i])),
                    "MF"[int(pop.sex[i])],
                    int(pop.age[i]),
                    AGE_GROUPS[int(groups[i])],
                    ROLE_NAMES[int(pop.role[i])],
                    hh.id(int(pop.household[i])),
                    None if dp == HOME else places[dp].id,
                )
            )
        db.executemany("INSERT INTO residents VALUES (?,?,?,?,?,?,?,?)", rows)
        counts["residents"] = len(rows)
        # households
        hrows = [
            (
                h["household"],
                h["dwelling"],
                h["floor_area_m2"],
                h["heating"],
                h["fuel"],
                int(h["gas_meter"]),
                h["insulation_class"],
                h["k_kwh_per_degree_day"],
                h["residents"],
                h["account"],
            )
            for h in household_truth(hh, town.household_rows)
        ]
        db.executemany("INSERT INTO households VALUES (?,?,?,?,?,?,?,?,?,?)", hrows)
        counts["households"] = len(hrows)
        # incidents
        irows = [
            (n, rec["type"], rec.get("start"), rec.get("end"), orjson.dumps(rec).decode())
            for n, rec in enumerate(town.incidents(t_end))
        ]
        db.executemany("INSERT INTO incidents VALUES (?,?,?,?,?)", irows)
        counts["incidents"] = len(irows)
        crows = [
            (
                c.id,
                c.place,
                c.site,
                c.x,
                c.y,
                int(c.face),
                c.quality,
                c.heading_deg,
                c.fov_deg,
                c.range_m,
            )
            for c in tmap.cameras
        ]
        db.executemany("INSERT INTO cameras VALUES (?,?,?,?,?,?,?,?,?,?)", crows)
        counts["cameras"] = len(crows)
        # stays and sightings, day by day from the same plans the events come from
        cams = CameraSystem(
            tmap, pop, town.watchlist, town.recognition, town.plan, town._ss["cameras"]
        )
        n_stays = n_sight = 0
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            lo, hi = max(t_start, day * DAY_MS), min(t_end, (day + 1) * DAY_MS)
            plan = town.plan(day)
            prev = town.plan(day - 1).spill(day * DAY_MS)  # walks still going at midnight
            srows = _stays([prev, plan], town, lo, hi, unix0, iso)
            db.executemany("INSERT INTO stays VALUES (?,?,?,?,?,?,?)", srows)
            n_stays += len(srows)
            ps = cams.passes(day)
            early = lo - 3000 if lo == t_start else lo  # a capture just after the start
            sel = np.flatnonzero((ps.t_pass >= early) & (ps.t_pass < hi))
            sel = sel[np.lexsort((ps.camera[sel], ps.t_pass[sel]))]
            db.executemany(
                "INSERT INTO sightings VALUES (?,?,?,?,?,?)",
                (
                    (
                        tmap.cameras[int(ps.camera[j])].id,
                        Population.id(int(ps.person[j])),
                        iso(ps.t_pass[j]),
                        unix0 + int(ps.t_pass[j]),
                        unix0 + int(ps.t_in[j]),
                        unix0 + int(ps.t_out[j]),
                    )
                    for j in sel
                ),
            )
            n_sight += len(sel)
        counts["stays"], counts["sightings"] = n_stays, n_sight
        db.executescript(INDEXES)
        db.commit()
    finally:
        db.close()
    return counts


STREET, STOP, BUS = -2, -3, -4  # codes of ``where`` in :func:`_stays` besides place indices


def _stays(plans: list, town: Town, lo: int, hi: int, unix0: int, iso) -> list[tuple]:
    """Each resident's places within [lo, hi) from the day plans that reach into it (the
    day's own and the one before, past midnight): visits, walks between them, waits at a
    stop, bus rides, and home in the gaps."""
    pop, places, stops = town.population, town.map.places, town.map.stops
    parts: list[tuple[np.ndarray, ...]] = []
    for plan in plans:
        legs = plan.legs
        ride = plan.stay_kind == STAY_BUS
        parts.append(
            (
                np.concatenate([legs.person, plan.visit_person, plan.stay_person]),
                np.concatenate([legs.t0, plan.visit_arrive, plan.stay_from]),
                np.concatenate([legs.t1, plan.visit_leave, plan.stay_to]),
                np.concatenate(
                    [np.full(len(legs), STREET), plan.visit_place, np.where(ride, BUS, STOP)]
                ),
                np.concatenate(
                    [np.zeros(len(legs) + len(plan.visit_person), np.int64), plan.stay_ref]
                ),
                np.full(len(legs) + len(plan.visit_person) + len(ride), len(parts)),
            )
        )
    person, t0, t1, where, ref, src = (
        np.concatenate([p[k] for p in parts]).astype(np.int64) for k in range(6)
    )
    keep = (t1 > lo) & (t0 < hi)
    person, t0, t1, where, ref, src = (a[keep] for a in (person, t0, t1, where, ref, src))
    order = np.lexsort((where, t0, person))
    person, t0, t1, where, ref, src = (a[order] for a in (person, t0, t1, where, ref, src))
    out: list[tuple] = []

    def add(p: int, place: str, kind: str, a: int, b: int) -> None:
        a, b = max(a, lo, cursor), min(b, hi)
        if b > a:
            out.append((Population.id(p), place, kind, iso(a), iso(b), unix0 + a, unix0 + b))

    j, n = 0, len(person)
    for p in range(len(pop)):
        cursor = lo
        role = int(pop.role[p])
        day_place = int(pop.day_place[p])
        while j < n and person[j] == p:
            a, b, w = int(t0[j]), int(t1[j]), int(where[j])
            if a > cursor:
                add(p, "home", "home", cursor, a)
            if w == STREET:
                add(p, "street", "street", a, b)
            elif w == STOP:
                add(p, stops[int(ref[j])].id, "stop", a, b)
            elif w == BUS:
                add(p, plans[int(src[j])].trip_ids[int(ref[j])], "bus", a, b)
            else:
                pl = places[w]
                add(p, pl.id, _place_kind(pl.kind, w == day_place, role), a, b)
            cursor = max(cursor, b)
            j += 1
        add(p, "home", "home", cursor, hi)
    return out


def stays_at(path: Path, resident: str, ts_ms: int) -> list[dict[str, Any]]:
    """Where ``resident`` was at ``ts_ms`` (a convenience for tests and the privacy lab)."""
    db = sqlite3.connect(path)
    try:
        cur = db.execute(
            "SELECT place, kind, t_from, t_to FROM stays"
            " WHERE resident = ? AND t_from_ms <= ? AND ? < t_to_ms",
            (resident, ts_ms, ts_ms),
        )
        return [dict(zip(("place", "kind", "t_from", "t_to"), r, strict=True)) for r in cur]
    finally:
        db.close()
