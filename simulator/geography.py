"""The fixed map of Aqkol: streets, buildings, places, bus routes, cameras, households.

Everything is in local metres (x east, y north, origin = town centre at 52.000 N,
70.933 E); :func:`services.events.geo.to_latlon` converts. The layout is synthetic but follows the
real town's shape: a street grid on the west shore of lake Akkol, five-storey blocks around
the centre and single-storey private houses in the outer blocks.

The map does not depend on the run seed (it is built once with a fixed internal seed and
cached), so every run of the sandbox shares the same town and the same device ids. Only the
camera network can be changed (:func:`town_map`: how many cameras, how densely placed), for
the lab's sweeps; the default is the shipped network of ``DEFAULT_CAMERAS`` cameras.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from services.events.geo import ORIGIN_LAT, ORIGIN_LON

LAYOUT_SEED = 20260115  # fixed: the map is the same for every run
DEFAULT_CAMERAS = 150  # the shipped camera network

# Street grid: vertical streets (x = const) west to east, horizontal (y = const) south to north.
GRID_X0, GRID_DX, GRID_NX = -1400.0, 200.0, 14  # x = -1400 ... 1200
GRID_Y0, GRID_DY, GRID_NY = -1000.0, 200.0, 11  # y = -1000 ... 1000
STREET_HALF_WIDTH = 10.0
VERTICAL_NAMES = (
    "Zheltoqsan st",
    "Tole bi st",
    "Kunaev st",
    "Auezov st",
    "Seifullin st",
    "Gagarin st",
    "Lenin st",
    "Abylai Khan st",
    "Pushkin st",
    "Dostyk st",
    "Mira st",
    "Baitursynov st",
    "Sholokhov st",
    "Beibitshilik st",
)
HORIZONTAL_NAMES = (
    "Vokzalnaya st",
    "Komsomolskaya st",
    "Sadovaya st",
    "Zhambyl st",
    "Kazybek bi st",
    "Abay avenue",
    "Ualikhanov st",
    "Zhumabaev st",
    "Mukanov st",
    "Tauelsizdik st",
    "Oktyabrskaya st",
)
MAIN_X = 0.0  # Lenin st, the main north-south street
MAIN_Y = 0.0  # Abay avenue, the main east-west street
CENTRAL_HALF_X, CENTRAL_HALF_Y = 500.0, 300.0  # block centres inside are five-storey blocks

Point = tuple[float, float]


def grid_xs() -> np.ndarray:
    return GRID_X0 + GRID_DX * np.arange(GRID_NX)


def grid_ys() -> np.ndarray:
    return GRID_Y0 + GRID_DY * np.arange(GRID_NY)


@dataclass(frozen=True)
class Street:
    name: str
    cls: str  # "avenue", "primary", "residential", "railway"
    path: tuple[Point, ...]


@dataclass(frozen=True)
class Building:
    kind: str  # "house", "apartment_block", or the kind of the place it holds
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    kind: str  # school, hospital, akimat, market, square, station, kindergarten, work, shop, ...
    x: float
    y: float
    entrance: Point  # on a street: where people arrive and where the gate camera looks
    capacity: int = 0  # workplaces: staff; schools: pupils are assigned by distance


@dataclass(frozen=True)
class Stop:
    id: str
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class Route:
    id: str
    name: str
    stops: tuple[str, ...]
    path: tuple[Point, ...]  # passes through every stop, in order

    def length(self) -> float:
        return float(sum(math.dist(a, b) for a, b in zip(self.path, self.path[1:], strict=False)))


@dataclass(frozen=True)
class Camera:
    id: str
    x: float
    y: float
    place: str  # place id, stop id, or "Street A / Street B" for an intersection
    site: str  # "place", "stop" or "intersection"
    face: bool  # runs (simulated) face recognition
    radius: float = 20.0  # metres of street in view (the range of the field of view)
    quality: float = 0.7  # image quality 0 (poor) - 1 (good): sets the face miss rate
    heading_deg: float = 0.0  # where the lens points, compass degrees (0 north, 90 east)
    fov_deg: float = 360.0  # horizontal view angle

    @property
    def range_m(self) -> float:
        return self.radius


# Field of view by site. An intersection or a stop has a dome camera that sees every
# approach (passes within ``radius`` are what it captures); a place's entrance camera,
# on the facade, looks out over the street in front of the gate with a wide lens, out to
# ``radius``: 200 degrees cover the gate and both approaches along the street (which runs
# across the heading, at 90 degrees either side) but not the building behind it.
FOV_DEG = {"intersection": 360.0, "stop": 360.0, "place": 200.0}


def camera_heading(camera_id: str, x: float, y: float, toward: tuple[float, float] | None) -> float:
    """A fixed heading per camera: away from the building it is mounted on (toward the
    street) for a place's entrance camera, else a direction from its id alone."""
    if toward is not None and (toward[0], toward[1]) != (x, y):
        # mounted on the place's facade, looking out over the street
        dx, dy = x - toward[0], y - toward[1]
        return round(math.degrees(math.atan2(dx, dy)) % 360, 1)
    return round(float(zlib.crc32(f"{camera_id}:heading".encode()) % 3600) / 10, 1)


def camera_quality(camera_id: str) -> float:
    """A fixed image-quality score per camera (0.0-1.0), from its id alone."""
    return round((zlib.crc32(camera_id.encode()) % 1001) / 1000, 3)


@dataclass(frozen=True)
class EnvStation:
    id: str
    x: float
    y: float
    traffic: float  # 0-1: how much road noise reaches it
    smoke: float  # 0-1: how much household heating smoke reaches it


@dataclass
class Households:
    """Column arrays, one row per household (index i -> id ``hh-{i+1:04d}``)."""

    x: np.ndarray
    y: np.ndarray
    residents: np.ndarray  # int
    dwelling: np.ndarray  # 0 = private house, 1 = flat in a five-storey block
    building: np.ndarray  # index into TownMap.buildings
    floor_area: np.ndarray  # m2
    insulation: np.ndarray  # heat-loss factor: 1 = average, >1 = poorly insulated
    heating: np.ndarray  # 0 = own gas boiler, 1 = district heating, 2 = coal/wood stove
    gas_meter: np.ndarray  # bool: a smart gas meter (heating and/or cooking)
    account: list[str | None]  # bank account linked for automatic payment
    sample_key: np.ndarray  # uniform 0-1: households with key < scale form a smaller town

    HEATING_NAMES = ("gas", "district", "coal")

    def __len__(self) -> int:
        return len(self.x)

    def id(self, i: int) -> str:
        return f"hh-{i + 1:04d}"


@dataclass
class TownMap:
    """The whole fixed map of the town."""

    lake: tuple[Point, ...]
    streets: list[Street]
    buildings: list[Building]
    places: list[Place]
    stops: list[Stop]
    routes: list[Route]
    cameras: list[Camera]
    env_stations: list[EnvStation]
    households: Households
    _place_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._place_index = {p.id: i for i, p in enumerate(self.places)}

    def place(self, place_id: str) -> Place:
        return self.places[self._place_index[place_id]]

    def places_of(self, kind: str) -> list[Place]:
        return [p for p in self.places if p.kind == kind]

    def stop(self, stop_id: str) -> Stop:
        return next(s for s in self.stops if s.id == stop_id)

    def to_json(self) -> dict[str, Any]:
        """The map as plain JSON data (served at /town, drawn offline by the dashboard)."""

        def pts(seq: Any) -> list[list[float]]:
            return [[round(float(x), 1), round(float(y), 1)] for x, y in seq]

        return {
            "origin": {"lat": ORIGIN_LAT, "lon": ORIGIN_LON},
            "lake": pts(self.lake),
            "streets": [
                {"name": s.name, "class": s.cls, "path": pts(s.path)} for s in self.streets
            ],
            "buildings": [{"kind": b.kind, "polygon": pts(b.polygon)} for b in self.buildings],
            "places": [
                {"id": p.id, "name": p.name, "kind": p.kind, "x": p.x, "y": p.y}
                for p in self.places
            ],
            "stops": [{"id": s.id, "name": s.name, "x": s.x, "y": s.y} for s in self.stops],
            "routes": [
                {"id": r.id, "name": r.name, "stops": list(r.stops), "path": pts(r.path)}
                for r in self.routes
            ],
            "cameras": [
                {
                    "id": c.id,
                    "x": c.x,
                    "y": c.y,
                    "place": c.place,
                    "site": c.site,
                    "face": c.face,
                    "heading_deg": c.heading_deg,
                    "fov_deg": c.fov_deg,
                    "range_m": c.range_m,
                }
                for c in self.cameras
            ],
            "env_stations": [{"id": s.id, "x": s.x, "y": s.y} for s in self.env_stations],
        }


# --- places -----------------------------------------------------------------------------

# (id, name, kind, block centre, entrance on a street, capacity)
_PLACES: tuple[tuple[str, str, str, Point, Point, int], ...] = (
    ("akimat", "Akimat of Aqkol district", "akimat", (-100, 100), (-100, 0), 120),
    ("square", "Central square", "square", (100, 100), (100, 0), 0),
    ("market", "Central market", "market", (300, -100), (300, 0), 150),
    ("hospital", "Aqkol central district hospital", "hospital", (-500, 300), (-500, 200), 260),
    ("school-1", "School-gymnasium No. 1", "school", (-300, -300), (-300, -200), 90),
    ("school-2", "Secondary school No. 2", "school", (700, 500), (700, 400), 80),
    ("school-3", "Secondary school No. 3", "school", (-900, -500), (-900, -400), 80),
    ("culture", "House of Culture", "culture", (-100, -100), (0, -100), 40),
    ("post", "Kazpost office", "work", (-300, 100), (-300, 0), 30),
    ("bank", "Halyk Bank branch", "work", (500, 100), (500, 0), 25),
    ("police", "District police department", "police", (300, 300), (300, 200), 90),
    ("kindergarten-1", "Kindergarten 'Balapan'", "kindergarten", (500, -300), (500, -200), 45),
    ("kindergarten-2", "Kindergarten 'Aigerim'", "kindergarten", (-700, -700), (-700, -600), 40),
    ("station", "Aqkol railway station", "station", (-300, -1060), (-300, -1000), 60),
    ("elevator", "Aqkol grain elevator", "work", (-1300, -900), (-1300, -1000), 220),
    ("brick-plant", "Brick plant", "work", (1100, -900), (1100, -800), 250),
    ("boiler-house", "Boiler house No. 1", "work", (900, -700), (900, -600), 70),
    ("depot", "Bus and utility depot", "work", (-1100, 900), (-1100, 800), 90),
    ("shop-1", "Shop 'Dastarkhan'", "shop", (-700, 500), (-700, 400), 25),
    ("shop-2", "Shop 'Nurly'", "shop", (900, 100), (900, 0), 25),
    ("shop-3", "Shop 'Ak Bidai'", "shop", (-900, -100), (-900, 0), 25),
)

# Bus stops sit at intersections.
_STOPS: tuple[tuple[str, str, Point], ...] = (
    ("stop-01", "Vokzal", (-200, -1000)),
    ("stop-02", "School No. 1", (-200, -200)),
    ("stop-03", "Akimat", (-200, 0)),
    ("stop-04", "Central square", (0, 0)),
    ("stop-05", "Market", (400, 0)),
    ("stop-06", "School No. 2", (600, 400)),
    ("stop-07", "Northeast", (600, 800)),
    ("stop-08", "Hospital", (-600, 200)),
    ("stop-09", "Northwest", (-1000, 800)),
    ("stop-10", "Dostyk", (800, 0)),
    ("stop-11", "Brick plant", (1000, -800)),
    ("stop-12", "West gate", (-1400, 0)),
    ("stop-13", "School No. 3", (-800, -400)),
    ("stop-14", "Lakeshore", (1200, 400)),
)

# Routes as intersection waypoints (consecutive points share x or y: paths follow streets).
_ROUTES: tuple[tuple[str, str, tuple[Point, ...]], ...] = (
    (
        "r1",
        "1: Vokzal - Centre - Northeast",
        (
            (-200, -1000),
            (-200, -200),
            (-200, 0),
            (0, 0),
            (400, 0),
            (600, 0),
            (600, 400),
            (600, 800),
        ),
    ),
    (
        "r2",
        "2: Northwest - Hospital - Brick plant",
        (
            (-1000, 800),
            (-600, 800),
            (-600, 200),
            (-600, 0),
            (-200, 0),
            (0, 0),
            (400, 0),
            (800, 0),
            (1000, 0),
            (1000, -800),
        ),
    ),
    (
        "r3",
        "3: West gate - Centre - Lakeshore",
        (
            (-1400, 0),
            (-800, 0),
            (-800, -400),
            (-200, -400),
            (-200, -200),
            (-200, 0),
            (0, 0),
            (1200, 0),
            (1200, 400),
        ),
    ),
)

_ENV_STATIONS: tuple[tuple[str, Point, float, float], ...] = (
    ("env-01", (20, 30), 0.9, 0.3),  # central square, by Abay avenue
    ("env-02", (-480, 220), 0.5, 0.4),  # hospital
    ("env-03", (-310, -220), 0.4, 0.5),  # school No. 1
    ("env-04", (710, 420), 0.3, 0.7),  # school No. 2, private houses around
    ("env-05", (-1010, -610), 0.2, 1.0),  # south-west private houses
    ("env-06", (-1110, 690), 0.3, 0.9),  # north-west private houses
    ("env-07", (1310, 200), 0.1, 0.3),  # lake shore
    ("env-08", (900, -620), 0.4, 0.8),  # boiler house
    ("env-09", (-300, -980), 0.6, 0.4),  # railway station
    ("env-10", (300, 20), 0.8, 0.4),  # market
)


def _rect(cx: float, cy: float, w: float, h: float) -> tuple[Point, ...]:
    hw, hh = w / 2, h / 2
    return ((cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh))


def _lake() -> tuple[Point, ...]:
    """Lake Akkol: a wavy western shore east of the last street, extending far east."""
    shore = []
    for y in np.arange(-2600, 2601, 200):
        x = 1420 + 60 * math.sin(y / 430.0) + 40 * math.cos(y / 170.0) + 0.00012 * y * y
        shore.append((round(x, 1), float(y)))
    far = [(5200.0, 2800.0), (5600.0, 0.0), (5200.0, -2800.0)]
    return (*shore, *far)


def _streets() -> list[Street]:
    out = []
    xs, ys = grid_xs(), grid_ys()
    y_lo, y_hi = float(ys[0]) - 60, float(ys[-1]) + 60
    x_lo, x_hi = float(xs[0]) - 60, float(xs[-1]) + 60
    for x, name in zip(xs, VERTICAL_NAMES, strict=True):
        cls = "primary" if x == MAIN_X else "residential"
        out.append(Street(name, cls, ((float(x), y_lo), (float(x), y_hi))))
    for y, name in zip(ys, HORIZONTAL_NAMES, strict=True):
        if y == MAIN_Y:  # Abay avenue runs on west out of town, towards the highway
            out.append(Street(name, "avenue", ((x_lo - 800, float(y)), (x_hi + 80, float(y)))))
        else:
            out.append(Street(name, "residential", ((x_lo, float(y)), (x_hi, float(y)))))
    out.append(Street("Railway", "railway", ((x_lo - 1200, -1130.0), (x_hi + 60, -1130.0))))
    return out


def _blocks() -> list[Point]:
    xs, ys = grid_xs(), grid_ys()
    return [(float(x + GRID_DX / 2), float(y + GRID_DY / 2)) for x in xs[:-1] for y in ys[:-1]]


def _is_central(c: Point) -> bool:
    return abs(c[0]) <= CENTRAL_HALF_X and abs(c[1]) <= CENTRAL_HALF_Y


def build_households(buildings: list[Building], rng: np.random.Generator) -> Households:
    """Households in houses (one each) and flats (40-60 per five-storey block)."""
    xs, ys, res, dwelling, bidx, area, ins, heat = [], [], [], [], [], [], [], []
    for i, b in enumerate(buildings):
        (x0, y0), (x1, y1) = b.polygon[0], b.polygon[2]
        if b.kind == "house":
            n = 1
            sizes = rng.choice([1, 2, 3, 4, 5, 6], size=1, p=[0.08, 0.2, 0.2, 0.25, 0.17, 0.10])
            a = rng.uniform(55, 130, size=1)
            insul = rng.lognormal(np.log(1.15), 0.25, size=1)
            h = rng.choice([0, 2], size=1, p=[0.86, 0.14])
        elif b.kind == "apartment_block":
            n = int(rng.integers(45, 67))
            sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.14, 0.26, 0.28, 0.22, 0.10])
            a = rng.uniform(30, 78, size=n)
            insul = rng.lognormal(np.log(0.85), 0.2, size=n)
            h = np.ones(n, dtype=int)
        else:
            continue
        xs.append(rng.uniform(x0 + 1, x1 - 1, size=n))
        ys.append(rng.uniform(y0 + 1, y1 - 1, size=n))
        res.append(sizes)
        dwelling.append(np.full(n, 0 if b.kind == "house" else 1))
        bidx.append(np.full(n, i))
        area.append(a)
        ins.append(insul)
        heat.append(h)
    x = np.concatenate(xs)
    heating = np.concatenate(heat).astype(np.int8)
    n = len(x)
    # Gas heating always has a meter; flats and coal-heated houses cook on metered gas mostly.
    meter = (heating == 0) | (rng.random(n) < 0.85)
    linked = rng.random(n) < 0.4
    acc_numbers = rng.choice(90000, size=n, replace=False) + 10000
    account = [f"acc-{a}" if ok else None for a, ok in zip(acc_numbers, linked, strict=True)]
    return Households(
        x=np.round(x, 1),
        y=np.round(np.concatenate(ys), 1),
        residents=np.concatenate(res).astype(np.int16),
        dwelling=np.concatenate(dwelling).astype(np.int8),
        building=np.concatenate(bidx).astype(np.int32),
        floor_area=np.round(np.concatenate(area), 1),
        insulation=np.round(np.concatenate(ins), 3),
        heating=heating,
        gas_meter=meter,
        account=account,
        sample_key=rng.random(n),
    )


Site = tuple[float, float, str, str, bool, float]  # x, y, place, site, face, radius


def _camera_sites(
    places: list[Place], stops: list[Stop], spacing: int = 1
) -> tuple[list[Site], dict[str, Point], list[Site]]:
    """The fixed sites (the places' entrances, the market's and the square's insides, every
    bus stop), the centres the entrance cameras look away from, and the intersections in
    the order they get a camera: main streets first, then by distance from the centre;
    only where every ``spacing``-th street crosses (counted from the main streets)."""
    sites: list[Site] = []
    centres: dict[str, Point] = {}  # entrance cameras look away from these
    for p in places:
        if p.kind in ("school", "market", "akimat", "square", "hospital", "station", "police"):
            radius = 30.0 if p.kind in ("school", "market", "square") else 20.0
            sites.append((p.entrance[0], p.entrance[1], p.id, "place", True, radius))
            centres[p.id] = (p.x, p.y)
    # the market and the square have a second camera looking over the inside
    for pid in ("market", "square"):
        p = next(q for q in places if q.id == pid)
        sites.append((p.x, p.y, pid, "place", True, 60.0))
    taken = {(round(s[0]), round(s[1])) for s in sites}
    for s in stops:
        sites.append((s.x, s.y, s.id, "stop", True, 20.0))
        taken.add((round(s.x), round(s.y)))
    inters = []
    main_i = int(np.flatnonzero(grid_xs() == MAIN_X)[0])
    main_j = int(np.flatnonzero(grid_ys() == MAIN_Y)[0])
    for i, x in enumerate(grid_xs()):
        for j, y in enumerate(grid_ys()):
            if (round(x), round(y)) in taken:
                continue
            if (i - main_i) % spacing or (j - main_j) % spacing:
                continue
            main = bool(x == MAIN_X or y == MAIN_Y)
            score = math.hypot(x, y * 1.2) - (600 if main else 0)
            inters.append((score, float(x), float(y), VERTICAL_NAMES[i], HORIZONTAL_NAMES[j], main))
    inters.sort()
    return (
        sites,
        centres,
        [(x, y, f"{hn} / {vn}", "intersection", main, 20.0) for _, x, y, vn, hn, main in inters],
    )


@lru_cache(maxsize=16)
def camera_limits(spacing: int = 1) -> tuple[int, int]:
    """The fewest and the most cameras a network of intersection ``spacing`` can have."""
    tm = build_town()
    sites, _, inters = _camera_sites(tm.places, tm.stops, spacing)
    return len(sites), len(sites) + len(inters)


def _cameras(
    places: list[Place], stops: list[Stop], total: int = DEFAULT_CAMERAS, spacing: int = 1
) -> list[Camera]:
    """The camera network: every fixed site, then intersections (:func:`_camera_sites`) up
    to ``total`` cameras. A larger ``spacing`` spreads the same number of cameras over a
    wider area, less densely."""
    sites, centres, inters = _camera_sites(places, stops, spacing)
    lo, hi = len(sites), len(sites) + len(inters)
    if not lo <= total <= hi:
        every = "every intersection" if spacing == 1 else f"an intersection every {spacing} streets"
        raise ValueError(
            f"cameras must be between {lo} (the places and stops) and {hi} ({every}), not {total}"
        )
    sites += inters[: total - lo]
    ids = [f"cam-{k + 1:03d}" for k in range(len(sites))]
    return [
        Camera(
            cid,
            x,
            y,
            place,
            site,
            face,
            radius,
            camera_quality(cid),
            camera_heading(cid, x, y, centres.get(place) if site == "place" else None),
            FOV_DEG[site],
        )
        for cid, (x, y, place, site, face, radius) in zip(ids, sites, strict=True)
    ]


@lru_cache(maxsize=8)
def town_map(cameras: int = DEFAULT_CAMERAS, camera_spacing: int = 1) -> TownMap:
    """The map with a camera network of ``cameras`` cameras whose intersection cameras stand
    where every ``camera_spacing``-th street crosses (see :func:`_cameras`); the default is
    :func:`build_town`'s. Everything else (streets, buildings, households) is the same map."""
    if camera_spacing < 1:
        raise ValueError(f"camera_spacing must be 1 or more, not {camera_spacing}")
    base = build_town()
    if cameras == DEFAULT_CAMERAS and camera_spacing == 1:
        return base
    return replace(base, cameras=_cameras(base.places, base.stops, cameras, camera_spacing))


@lru_cache(maxsize=1)
def build_town() -> TownMap:
    """The fixed map of Aqkol (cached; identical for every run seed)."""
    rng = np.random.default_rng(LAYOUT_SEED)
    places = [
        Place(pid, name, kind, float(c[0]), float(c[1]), (float(e[0]), float(e[1])), cap)
        for pid, name, kind, c, e, cap in _PLACES
    ]
    place_blocks = {(round(p.x), round(p.y)) for p in places}
    buildings: list[Building] = []
    usable = GRID_DX / 2 - STREET_HALF_WIDTH - 2  # half size of a block inside the streets
    for c in _blocks():
        cx, cy = c
        if (round(cx), round(cy)) in place_blocks:
            continue
        if _is_central(c):
            # three five-storey blocks: two along the long sides, one across
            buildings.append(Building("apartment_block", _rect(cx - 10, cy + 55, 120, 14)))
            buildings.append(Building("apartment_block", _rect(cx + 10, cy - 55, 120, 14)))
            buildings.append(Building("apartment_block", _rect(cx - 60, cy, 14, 60)))
            continue
        # private houses on plots along the north and south sides of the block
        plot_w = 2 * usable / 9
        for row_y in (cy + usable - 14, cy - usable + 14):
            for k in range(9):
                if rng.random() < 0.07:  # empty plot
                    continue
                px = cx - usable + plot_w * (k + 0.5) + rng.uniform(-2, 2)
                w, h = rng.uniform(8, 12), rng.uniform(8, 11)
                buildings.append(Building("house", _rect(px, row_y + rng.uniform(-2, 2), w, h)))
        # and a few along the middle, facing the side streets
        for px in (cx - usable + 14, cx + usable - 14):
            if rng.random() < 0.5:
                buildings.append(Building("house", _rect(px, cy, rng.uniform(8, 11), 9)))
    for p in places:
        w, h = (150, 110) if p.kind in ("school", "hospital", "work") else (80, 60)
        if p.kind == "square":
            w, h = 150, 150
        if p.kind in ("shop", "kindergarten"):
            w, h = 40, 30
        buildings.append(Building(p.kind, _rect(p.x, p.y, w, h)))
    households = build_households(buildings, rng)
    stops = [Stop(sid, name, float(pt[0]), float(pt[1])) for sid, name, pt in _STOPS]
    stop_at = {(round(s.x), round(s.y)): s.id for s in stops}
    routes = []
    for rid, name, nodes in _ROUTES:
        path = tuple((float(x), float(y)) for x, y in nodes)
        rstops = tuple(
            stop_at[(round(x), round(y))] for x, y in path if (round(x), round(y)) in stop_at
        )
        routes.append(Route(rid, name, rstops, path))
    env = [EnvStation(sid, float(p[0]), float(p[1]), t, s) for sid, p, t, s in _ENV_STATIONS]
    return TownMap(
        lake=_lake(),
        streets=_streets(),
        buildings=buildings,
        places=places,
        stops=stops,
        routes=routes,
        cameras=_cameras(places, stops),
        env_stations=env,
        households=households,
    )


def street_paths(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, vertical_first: np.ndarray
) -> np.ndarray:
    """Walking paths from a to b along the street grid: an (n, 6, 2) array of points.

    Horizontal-first: step out to the nearest east-west street, walk it to the north-south
    street nearest ``b``, walk that to the east-west street nearest ``b``, then to ``b``.
    Vertical-first is the mirror image. Consecutive points may coincide.
    """
    xs, ys = grid_xs(), grid_ys()

    def near(grid: np.ndarray, v: np.ndarray) -> np.ndarray:
        return grid[np.abs(v[:, None] - grid[None, :]).argmin(axis=1)]

    n = len(ax)
    out = np.empty((n, 6, 2))
    hx = np.stack([ax, ax, near(xs, bx), near(xs, bx), bx, bx], axis=1)
    hy = np.stack([ay, near(ys, ay), near(ys, ay), near(ys, by), near(ys, by), by], axis=1)
    vx = np.stack([ax, near(xs, ax), near(xs, ax), near(xs, bx), near(xs, bx), bx], axis=1)
    vy = np.stack([ay, ay, near(ys, by), near(ys, by), by, by], axis=1)
    vf = vertical_first[:, None]
    out[:, :, 0] = np.where(vf, vx, hx)
    out[:, :, 1] = np.where(vf, vy, hy)
    return out
