"""A simulated day for the lab: simulated once, cached on disk, read back as pandas.

A day is identified by (seed, scenario, start, hours, population scale, the other town
parameters that differ from the shipped town's: :class:`DayKey`). The first time it
is asked for, the town is simulated in-process (the same events ``aqkol simulate`` would
publish, for the kinds the lab and the starter rules use) and kept under
``runs/lab-cache/<key>/``: ``events.pkl`` (the raw events with their per-event truth) and
``truth.sqlite`` (:mod:`simulator.truth`: residents, households, stays, sightings,
incidents). Every later evaluation of a policy on that day reads the cache: a sweep
simulates each day once.

The command center never sees ground truth; the lab holds both, so that attacks run on
what a policy keeps and are scored against what really happened.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when the cached content changes shape
# what the attacks, the utility metrics and the starter rules read
LAB_KINDS = (
    "camera.crowd",
    "camera.face_match",
    "camera.object",
    "gas.reading",
    "payment.gas",
    "access.entry",
    "vehicle.position",
    "school.attendance",  # the insulation-attendance finding
    "env.reading",  # its degree-days
)
REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / "runs" / "lab-cache"


def _url(cache: Path | str | None) -> str | None:
    """The cache's fsspec URL (``s3://bucket/lab-cache``, ``gcs://...``), None for a path."""
    c = str(cache or os.environ.get("AQKOL_LAB_CACHE") or "")
    return c.rstrip("/") if "://" in c else None


def cache_dir(cache: Path | str | None = None) -> Path:
    """Where the simulated days are kept: ``cache``, else ``$AQKOL_LAB_CACHE``, else
    ``runs/lab-cache/`` of the repo. On a cluster it must be a place every worker reads and
    writes, so a day is simulated once for all of them: a shared filesystem's path (NFS, a
    cluster's scratch space), or an fsspec URL (``s3://bucket/lab-cache``; its filesystem's
    package installed, e.g. s3fs), whose days each machine copies into a local mirror, this
    folder: ``<$AQKOL_LAB_MIRROR or runs/lab-cache/remote>/<digest of the URL>/``."""
    url = _url(cache)
    if url:
        mirror = Path(os.environ.get("AQKOL_LAB_MIRROR") or DEFAULT_CACHE / "remote")
        return mirror / hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(cache or os.environ.get("AQKOL_LAB_CACHE") or DEFAULT_CACHE)


def day_folder(key: DayKey, cache: Path | str | None = None) -> Path:
    """The (local) cache folder of ``key``'s day (complete once its ``events.pkl`` exists)."""
    return cache_dir(cache) / key.digest()


DAY_FILES = ("truth.sqlite", "events.pkl")  # events.pkl last: it marks a complete entry


def has_day(key: DayKey, cache: Path | str | None = None) -> bool:
    """Whether the cache holds ``key``'s day (at its URL, for an fsspec cache)."""
    url = _url(cache)
    if url is None:
        return (day_folder(key, cache) / "events.pkl").exists()
    fs, root = _fs(url)
    return fs.exists(f"{root}/{key.digest()}/events.pkl")


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def _pull(url: str, rel: str, local: Path) -> bool:
    """Copy ``rel`` of the cache at ``url`` to ``local`` (renamed into place); False if absent."""
    fs, root = _fs(url)
    if not fs.exists(f"{root}/{rel}"):
        return False
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f"{local.name}.{os.getpid()}.part")
    fs.get_file(f"{root}/{rel}", str(tmp))
    tmp.replace(local)
    return True


def _push(url: str, rel: str, local: Path) -> None:
    """Copy ``local`` to ``rel`` of the cache at ``url``: uploaded aside, then moved."""
    fs, root = _fs(url)
    remote = f"{root}/{rel}"
    fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
    tmp = f"{remote}.{os.getpid()}.part"
    fs.put_file(str(local), tmp)
    fs.mv(tmp, remote)


def ensure_day(key: DayKey, cache: Path | str | None = None) -> Path:
    """Simulate ``key``'s day into the cache unless it is there; its (local) folder. With
    an fsspec cache, a day another machine simulated is copied here, and one simulated here
    is copied there."""
    folder = day_folder(key, cache)
    if (folder / "events.pkl").exists():
        return folder
    url = _url(cache)
    if url and has_day(key, cache):
        for name in DAY_FILES:
            _pull(url, f"{key.digest()}/{name}", folder / name)
        return folder
    log.info("simulating %s into %s", key, folder)
    _simulate(key, folder)
    if url:
        for name in DAY_FILES:
            _push(url, f"{key.digest()}/{name}", folder / name)
    return folder


SIMULATOR_CODE = ("simulator", "services/events", "services/lab/data.py")
LAB_CODE = (
    "services/lab",
    "services/policy",
    "services/rules",
    "services/events",
    "services/events/geo.py",
    "simulator",
)

# what only presents results (plots, the command line, exports, the runner's assembly)
PRESENTATION = frozenset(
    {
        "services/lab/plots.py",
        "services/lab/cli.py",
        "services/lab/export.py",
        "services/lab/runner.py",
    }
)


@lru_cache(maxsize=8)
def code_version(parts: tuple[str, ...] = LAB_CODE) -> str:
    """A digest of the source (``.py``, ``.yaml``, ``.json``) under ``parts`` of the repo:
    what a cached result depends on besides its inputs. Editing any of it changes it
    (except the files that only present results, :data:`PRESENTATION`)."""
    h = hashlib.sha256()
    for part in parts:
        root = REPO / part
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for f in files:
            rel = str(f.relative_to(REPO))
            if (
                f.is_file()
                and f.suffix in (".py", ".yaml", ".json")
                and "__pycache__" not in f.parts
                and rel not in PRESENTATION
            ):
                h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def scenario_digest(name: str) -> str:
    """A digest of the scenario's content (as parsed: a comment or spacing changes nothing)."""
    from services.events.scenarios import load_scenario

    sc = load_scenario(name)
    return hashlib.sha256(sc.model_dump_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DayKey:
    """What determines a simulated day."""

    seed: int = 1
    scenario: str = "normal-winter-day"
    start: str | None = None  # ISO 8601 with offset; None: the scenario's
    hours: float | None = None  # None: the scenario's (a day)
    population_scale: float = 1.0
    # the other town parameters (simulator.model.TOWN_PARAMETERS) where they differ from
    # the shipped town, sorted by name: (("cameras", 60), ("fpir", 0.03))
    town: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(
        cls,
        seed: int = 1,
        scenario: str = "normal-winter-day",
        start: str | None = None,
        hours: float | None = None,
        **params: Any,
    ) -> DayKey:
        """The key of a day of the town with ``params`` (town parameters; those equal to
        the shipped town's are left out, so that the same town has one key)."""
        from simulator.model import TOWN_PARAMETERS, check_parameters

        check_parameters(params)
        # one spelling per value (2 and 2.0 are the same day, and must have one digest)
        params = {k: v if v is None else TOWN_PARAMETERS[k].kind(v) for k, v in params.items()}
        scale = params.pop("population_scale", 1.0)
        town = tuple(sorted((k, v) for k, v in params.items() if v != TOWN_PARAMETERS[k].default))
        hours = None if hours is None else float(hours)
        return cls(int(seed), scenario, start, hours, scale, town)

    def params(self) -> dict[str, Any]:
        """The town parameters of the day (``population_scale`` and the others)."""
        return {"population_scale": self.population_scale, **dict(self.town)}

    def digest(self) -> str:
        """Content-addressed: the key, the scenario file's content and the simulator's code."""
        raw = orjson.dumps(
            [
                CACHE_VERSION,
                self.seed,
                self.scenario,
                self.start,
                self.hours,
                self.population_scale,
                scenario_digest(self.scenario),
                code_version(SIMULATOR_CODE),
                [list(kv) for kv in self.town],
            ]
        )
        return hashlib.sha256(raw).hexdigest()[:16]


class LabDay:
    """One cached day: raw events (``events``), their truth, and the truth database."""

    def __init__(self, folder: Path, key: DayKey):
        self.folder = folder
        self.key = key
        with open(folder / "events.pkl", "rb") as f:
            blob = pickle.load(f)
        self.events: list[tuple] = blob["events"]  # (id, kind, source, ts, lat, lon, data)
        self.truths: dict[str, dict[str, Any]] = blob["truths"]
        self.incidents: list[dict[str, Any]] = blob["incidents"]
        self.meta: dict[str, Any] = blob["meta"]
        self.truth_db = folder / "truth.sqlite"

    def _sql(self, query: str) -> pd.DataFrame:
        with sqlite3.connect(self.truth_db) as db:
            return pd.read_sql_query(query, db)

    @cached_property
    def residents(self) -> pd.DataFrame:
        return self._sql("SELECT * FROM residents")

    @cached_property
    def households(self) -> pd.DataFrame:
        return self._sql("SELECT * FROM households")

    @cached_property
    def cameras(self) -> pd.DataFrame:
        return self._sql("SELECT * FROM cameras")

    @cached_property
    def sightings(self) -> pd.DataFrame:
        return self._sql("SELECT camera, resident, ts_ms FROM sightings")

    @cached_property
    def stays(self) -> pd.DataFrame:
        return self._sql("SELECT resident, place, kind, t_from_ms, t_to_ms FROM stays")

    @cached_property
    def raw(self) -> dict[str, pd.DataFrame]:
        """The events as sent, one DataFrame per kind."""
        from services.lab.evaluate import FRAME_KINDS
        from services.lab.store import raw_frames

        return raw_frames(self.events, FRAME_KINDS)

    @property
    def watchlist(self) -> list[dict[str, Any]]:
        """Watch-list entries with ``resident_id`` (None for people not living in the town)."""
        from simulator.people import Population

        return [
            {**w, "resident_id": None if w["resident"] is None else Population.id(w["resident"])}
            for w in self.meta["watchlist"]
        ]

    @property
    def t0_ms(self) -> int:
        return int(self.meta["t0_ms"])

    @property
    def t1_ms(self) -> int:
        return int(self.meta["t1_ms"])


def _simulate(key: DayKey, folder: Path) -> None:
    from services.lab.day import simulate_day
    from simulator.truth import write_truth_db

    sim = simulate_day(
        key.scenario,
        key.seed,
        start=datetime.fromisoformat(key.start) if key.start else None,
        hours=key.hours,
        kinds=LAB_KINDS,
        **key.params(),
    )
    town, start, hours = sim.town, sim.start, sim.hours
    truths, incidents = sim.truths, sim.incidents

    events = []
    for ev in sim.events():
        geo = ev.get("geo") or {}
        data = {k: v for k, v in ev["data"].items() if v is not None}
        events.append(
            (
                ev["id"],
                ev["kind"],
                ev["source"],
                datetime.fromisoformat(ev["ts"]),
                geo.get("lat"),
                geo.get("lon"),
                data,
            )
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"truth.sqlite.{os.getpid()}"
    write_truth_db(town, tmp, hours)
    tmp.replace(folder / "truth.sqlite")
    unix0 = town.clock.unix_ms(0)
    meta = {
        "key": key.__dict__,
        "params": town.params(),
        "hours": hours,
        "start": start.isoformat(),
        "t0_ms": unix0 + town.t_start,
        "t1_ms": unix0 + town.t_start + round(hours * 3_600_000),
        "watchlist": [
            {"enrollment_id": e.id, "watchlist": e.watchlist, "resident": e.resident}
            for e in town.watchlist
        ],
    }
    blob = {"events": events, "truths": truths, "incidents": incidents, "meta": meta}
    tmp = folder / f"events.pkl.{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(blob, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / "events.pkl")  # last: its presence marks a complete cache entry


def load_day(key: DayKey, cache: Path | str | None = None) -> LabDay:
    """The day for ``key``, simulated now if it is not in the cache yet."""
    return LabDay(ensure_day(key, cache), key)


def week_sightings(
    seed: int = 1, days: int = 7, population_scale: float = 1.0, **params: Any
) -> pd.DataFrame:
    """Every camera pass of ``days`` days (person, camera, t_ms in Unix ms), from the plans:
    the week the unicity benchmark runs on, without writing a truth database. ``params``:
    other town parameters (the camera network among them)."""
    from simulator.cameras import CameraSystem
    from simulator.clock import AQKOL_TZ
    from simulator.model import Town

    town = Town(
        seed=seed,
        start=datetime(2026, 1, 12, 0, 0, tzinfo=AQKOL_TZ),
        population_scale=population_scale,
        kinds=("camera.crowd",),
        **params,
    )
    cams = CameraSystem(
        town.map, town.population, town.watchlist, town.recognition, town.plan, town._ss["cameras"]
    )
    parts = []
    d0 = town.t_start // 86_400_000
    for day in range(d0, d0 + days):
        ps = cams.passes(day)
        parts.append(
            pd.DataFrame(
                {
                    "person": ps.person.astype(np.int32),
                    "camera": ps.camera.astype(np.int32),
                    "t_ms": ps.t_pass.astype(np.int64) + town.clock.unix_ms(0),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["face"] = np.array([c.face for c in town.map.cameras])[out["camera"].to_numpy()]
    xy = np.array([(c.x, c.y) for c in town.map.cameras])
    out["x"], out["y"] = xy[out["camera"].to_numpy(), 0], xy[out["camera"].to_numpy(), 1]
    return out


def load_week(
    seed: int,
    days: int,
    population_scale: float = 1.0,
    cache: Path | str | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Camera passes (resident, camera, ts_ms) of ``days`` days from Monday 2026-01-12, as in
    the truth's sightings table, cached: the long traces of the unicity experiments.
    ``params``: other town parameters (as in :meth:`DayKey.of`; the shipped town's values
    are left out of the cache key)."""
    from simulator.geography import DEFAULT_CAMERAS, town_map
    from simulator.people import Population

    town = DayKey.of(seed=seed, population_scale=population_scale, **params).town
    key = [CACHE_VERSION, "week", seed, days, population_scale, code_version(SIMULATOR_CODE)]
    raw = orjson.dumps(key + ([[list(kv) for kv in town]] if town else []))
    rel = f"weeks/{hashlib.sha256(raw).hexdigest()[:16]}.pkl"
    path = cache_dir(cache) / rel
    url = _url(cache)
    if path.exists() or (url and _pull(url, rel, path)):
        return pd.read_pickle(path)
    s = week_sightings(seed, days, population_scale, **dict(town))
    net = dict(town)
    the_map = town_map(net.get("cameras", DEFAULT_CAMERAS), net.get("camera_spacing", 1))
    cams = [c.id for c in the_map.cameras]
    people = s["person"].to_numpy()
    uniq, inv = np.unique(people, return_inverse=True)
    out = pd.DataFrame(
        {
            "camera": np.array(cams, dtype=object)[s["camera"].to_numpy()],
            "resident": np.array([Population.id(int(i)) for i in uniq], dtype=object)[inv],
            "ts_ms": s["t_ms"].to_numpy(np.int64),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    out.to_pickle(tmp)
    tmp.replace(path)
    if url:
        _push(url, rel, path)
    return out


@lru_cache(maxsize=1)
def town_xy() -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Town metres of every household (by id) and of every place and stop (by id)."""
    from simulator.geography import build_town

    tm = build_town()
    homes = {
        tm.households.id(i): (float(tm.households.x[i]), float(tm.households.y[i]))
        for i in range(len(tm.households))
    }
    places = {p.id: (p.x, p.y) for p in tm.places}
    for s in tm.stops:
        places[s.id] = (s.x, s.y)
    return homes, places
