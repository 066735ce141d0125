"""Plotly figures of the situation room: pure functions, drawn in projected metres.

No map tiles and no mapbox/maplibre traces (those fetch glyphs from the internet): the
town is plain ``scatter`` traces on equal axes, so the room works offline. Many shapes
of one sort go into ONE trace, separated by ``None``, which keeps the browser fast with
thousands of houses. The static town layer is built once and cached.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from dashboard import fmt, i18n
from dashboard.i18n import N_, _
from services.events.geo import to_xy

BACKGROUND = "#0b1220"
TEXT = "#e5e7eb"
MUTED = "#94a3b8"
ALERT_RED = "#ff3b3b"
TEXT_SHADOW = "1px 1px 2px #000, -1px -1px 2px #000, 1px -1px 2px #000, -1px 1px 2px #000"
UIREVISION = "aqkol-town"  # constant, so zoom and pan survive every refresh

HEAT_TRACE_NAME = "heatmap"
HEAT_GROUP = "heat"
N_LEVELS = 6

MAGMA = ("#3b0f70", "#6a1f80", "#a3307e", "#dc4a6b", "#f98a5f", "#fde3a0")
VIRIDIS = ("#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#d9e84c")
EMBER = ("#5a1e02", "#8a3003", "#c04c05", "#e8730c", "#ffa94d", "#ffe08a")
GLACIER = ("#123a5a", "#1b5e80", "#2186a6", "#3aaecb", "#7dd3e8", "#d2f4fb")


@dataclass(frozen=True)
class HeatLayer:
    """One choice of the layer selector: what to ask /heatmap for and how to show it."""

    key: str
    label: str
    kind: str | None
    agg: str
    unit: str
    colors: tuple[str, ...]


HEAT_LAYERS: dict[str, HeatLayer] = {
    layer.key: layer
    for layer in (
        HeatLayer(
            "people", N_("People (camera counts)"), "camera.crowd", "sum", N_("people"), MAGMA
        ),
        HeatLayer("gas", N_("Gas use"), "gas.reading", "sum", "m³", VIRIDIS),
        HeatLayer(
            "traffic", N_("Traffic"), "vehicle.position", "count", N_("vehicle reports"), EMBER
        ),
        HeatLayer("all", N_("All events"), None, "count", N_("events"), GLACIER),
    )
}
DEFAULT_LAYER = "people"

BUILDING_STYLE: dict[str, tuple[str, str]] = {  # kind -> (fill, outline)
    "house": ("#1c2431", "#2a3445"),
    "block": ("#243046", "#34445f"),
    "school": ("#3f3a78", "#7c74d9"),
    "hospital": ("#6b2533", "#e26d85"),
    "akimat": ("#5a5220", "#d6c45a"),
    "market": ("#5a3b1a", "#d9934a"),
}
DEFAULT_BUILDING_STYLE = ("#2b3648", "#46556e")
BUILDING_NAMES = {  # kind -> what a group of them is called on hover
    "house": N_("Houses"),
    "block": N_("Blocks of flats"),
    "school": N_("Schools"),
    "hospital": N_("Hospitals"),
    "akimat": N_("Akimat"),
    "market": N_("Markets"),
}
STREET_NAMES = {
    "avenue": N_("Avenue"),
    "primary": N_("Main roads"),
    "main": N_("Main roads"),
    "street": N_("Streets"),
    "residential": N_("Residential streets"),
    "lane": N_("Lanes"),
}
LABELLED_PLACES = {"school", "hospital", "akimat", "market", "station"}
BUILDING_ORDER = ("house", "block")  # drawn first, the public buildings on top

STREET_STYLE: dict[str, tuple[str, float]] = {  # class -> (colour, width)
    "avenue": ("#a3b1c6", 6.0),
    "primary": ("#8595ab", 4.0),
    "main": ("#8595ab", 4.0),
    "street": ("#5f6d82", 2.5),
    "residential": ("#5f6d82", 2.5),
    "lane": ("#4a566a", 1.5),
}
DEFAULT_STREET_STYLE = ("#56647a", 2.0)

VEHICLE_STYLE: dict[str, tuple[str, str, int]] = {  # type -> (label, colour, size)
    "bus": (N_("Buses"), "#facc15", 22),
    "garbage_truck": (N_("Garbage trucks"), "#a3e635", 16),
    "snow_plough": (N_("Snow ploughs"), "#f8fafc", 16),
    "ambulance": (N_("Ambulances"), "#fb7185", 18),
    "police": (N_("Police"), "#60a5fa", 18),
}


# -- small geometry helpers ------------------------------------------------------------------


def _ring_xy(points: Iterable[Sequence[float]]) -> tuple[list[float], list[float]]:
    """A closed polygon ring of [x, y] points."""
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        xs.append(round(float(p[0]), 1))
        ys.append(round(float(p[1]), 1))
    if xs and (xs[0], ys[0]) != (xs[-1], ys[-1]):
        xs.append(xs[0])
        ys.append(ys[0])
    return xs, ys


def _join(parts: Iterable[tuple[list[float], list[float]]]) -> tuple[list, list]:
    """Many lines or rings as one x/y pair separated by ``None`` (one trace, many shapes)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for px, py in parts:
        if not px:
            continue
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(px)
        ys.extend(py)
    return xs, ys


def _latlon_ring(boundary: Iterable[Sequence[float]]) -> tuple[list[float], list[float]]:
    """An H3 boundary of [lat, lon] points as a closed ring in metres."""
    return _ring_xy(to_xy(float(lat), float(lon)) for lat, lon in boundary)


def _geo_xy(item: Mapping[str, Any]) -> tuple[float, float] | None:
    geo = item.get("geo")
    if not geo or geo.get("lat") is None or geo.get("lon") is None:
        return None
    return to_xy(float(geo["lat"]), float(geo["lon"]))


def _items(payload: Any) -> list[dict[str, Any]]:
    """Accept either an API answer (``{"items": [...]}``) or the list itself."""
    if payload is None:
        return []
    if isinstance(payload, Mapping):
        return list(payload.get("items") or [])
    return list(payload)


# -- the static town layer (cached) ----------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    traces: tuple[dict[str, Any], ...]
    bounds: tuple[float, float, float, float] | None  # xmin, xmax, ymin, ymax


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _digest(town: Mapping[str, Any]) -> str:
    blob = json.dumps(town, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def _base_layer(town: Mapping[str, Any]) -> _Base:
    """The town's static traces, rebuilt only when the town itself changes (one per language:
    the legend and hover texts are in it)."""
    lang = i18n.current()
    with _cache_lock:
        cache = _cache.setdefault(lang, {})
        if cache.get("town") is town:
            return cache["base"]
    digest = _digest(town)
    with _cache_lock:
        if cache.get("digest") == digest:
            cache["town"] = town
            return cache["base"]
    base = _build_base(town)
    with _cache_lock:
        cache.update(town=town, digest=digest, base=base)
    return base


def is_town_trace(trace: Any) -> bool:
    """Whether ``trace`` is one of the cached town layer's own (unchanged) trace objects."""
    with _cache_lock:
        base = _cache.get("base")
    return base is not None and any(trace is t for t in base.traces)


def clear_cache() -> None:
    """Forget the cached town layer (tests)."""
    with _cache_lock:
        _cache.clear()


def _build_base(town: Mapping[str, Any]) -> _Base:
    traces: list[dict[str, Any]] = []
    group = {"legendgroup": "town", "legendgrouptitle": {"text": _("Town")}}

    lake = town.get("lake") or []
    if lake:
        x, y = _ring_xy(lake)
        traces.append(
            dict(
                type="scatter", name=_("Lake"), x=x, y=y, mode="lines", fill="toself",
                fillcolor="#0f3a5f", line={"color": "#2f7fc1", "width": 2},
                hoveron="fills", hoverinfo="name", **group,
            )
        )  # fmt: skip

    by_kind: dict[str, list[tuple[list[float], list[float]]]] = {}
    for building in town.get("buildings") or []:
        ring = _ring_xy(building.get("polygon") or [])
        by_kind.setdefault(str(building.get("kind") or "building"), []).append(ring)
    order = [k for k in BUILDING_ORDER if k in by_kind]
    order += sorted(k for k in by_kind if k not in BUILDING_ORDER)
    for kind in order:
        x, y = _join(by_kind[kind])
        fill, outline = BUILDING_STYLE.get(kind, DEFAULT_BUILDING_STYLE)
        common = kind in BUILDING_ORDER
        traces.append(
            dict(
                type="scatter", name=f"{_building_name(kind)} ({len(by_kind[kind])})",
                x=x, y=y, mode="lines", fill="toself", fillcolor=fill,
                line={"color": outline, "width": 0.6 if common else 1.5},
                hoveron="fills", hoverinfo="skip" if common else "name", showlegend=False,
                meta={"layer": "buildings", "kind": kind}, **group,
            )
        )  # fmt: skip

    by_class: dict[str, list[dict[str, Any]]] = {}
    for street in town.get("streets") or []:
        by_class.setdefault(str(street.get("class") or "street"), []).append(street)
    # thin streets first, so the avenue is drawn over its crossings
    for cls in sorted(by_class, key=lambda c: STREET_STYLE.get(c, DEFAULT_STREET_STYLE)[1]):
        streets = by_class[cls]
        parts = []
        names: list[str | None] = []
        for street in streets:
            px, py = _open_path(street.get("path") or [])
            if not px:
                continue
            parts.append((px, py))
            if names:
                names.append(None)
            names.extend([street.get("name") or cls] * len(px))
        x, y = _join(parts)
        colour, width = STREET_STYLE.get(cls, DEFAULT_STREET_STYLE)
        traces.append(
            dict(
                type="scatter", name=_(STREET_NAMES[cls]) if cls in STREET_NAMES else cls,
                x=x, y=y, text=names, mode="lines", line={"color": colour, "width": width},
                hovertemplate="%{text}<extra></extra>", showlegend=False,
                meta={"layer": "streets", "class": cls}, **group,
            )
        )  # fmt: skip

    routes = town.get("routes") or []
    if routes:
        x, y = _join(_open_path(r.get("path") or []) for r in routes)
        traces.append(
            dict(
                type="scatter", name=_("Bus routes"), x=x, y=y, mode="lines",
                line={"color": "#facc15", "width": 2, "dash": "dot"}, opacity=0.7,
                hoverinfo="skip", visible="legendonly", **group,
            )
        )  # fmt: skip

    labels_at = len(traces)  # place names go under every marker, so none covers a marker
    cameras = town.get("cameras") or []
    if cameras:
        traces.append(
            dict(
                type="scatter", name=_("Cameras ({n})").format(n=len(cameras)), mode="markers",
                x=[c.get("x") for c in cameras], y=[c.get("y") for c in cameras],
                customdata=[[c.get("id"), c.get("place") or ""] for c in cameras],
                marker={"symbol": "triangle-up", "size": 8, "color": "#f472b6",
                        "line": {"width": 0}},
                hovertemplate=_("camera {id}").format(id="%{customdata[0]}")
                + "<br>%{customdata[1]}<extra></extra>",
                **group,
            )
        )  # fmt: skip

    stops = town.get("stops") or []
    if stops:
        traces.append(
            dict(
                type="scatter", name=_("Bus stops"), mode="markers",
                x=[s.get("x") for s in stops], y=[s.get("y") for s in stops],
                text=[s.get("name") or s.get("id") for s in stops],
                marker={"symbol": "square", "size": 9, "color": "#38bdf8",
                        "line": {"color": BACKGROUND, "width": 1}},
                hovertemplate=_("stop: {name}").format(name="%{text}") + "<extra></extra>",
                **group,
            )
        )  # fmt: skip

    places = town.get("places") or []
    if places:
        traces.append(
            dict(
                type="scatter", name=_("Places"), mode="markers",
                x=[p.get("x") for p in places], y=[p.get("y") for p in places],
                customdata=[[p.get("kind") or "", p.get("name") or p.get("id")] for p in places],
                marker={"symbol": "diamond", "size": 11, "color": TEXT,
                        "line": {"color": BACKGROUND, "width": 1}},
                hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[0]}<extra></extra>",
                **group,
            )
        )  # fmt: skip
        named = [p for p in places if p.get("kind") in LABELLED_PLACES]
        if named:  # the names, offset above their diamonds, drawn before any marker
            traces.insert(labels_at, dict(
                type="scatter", name="Place names", mode="text", showlegend=False,
                x=[p.get("x") for p in named], y=[p.get("y") for p in named],
                text=[p.get("name") or p.get("id") for p in named],
                textposition="top center", hoverinfo="skip", marker={"size": 14},
                textfont={"size": 15, "color": TEXT, "shadow": TEXT_SHADOW},
                meta={"layer": "labels"},
            ))  # fmt: skip

    town_only = [t for t in traces if t.get("name") != _("Lake")]
    bounds = _bounds(town_only) or _bounds(traces)
    if bounds and lake:
        # show the lake shore east of the town, not the whole lake
        lake_x = [p[0] for p in lake]
        shore = min(lake_x)
        # and leave room there for the legend, which sits over the lake
        bounds = (bounds[0], max(bounds[1], shore + (bounds[1] - bounds[0]) * 0.6), *bounds[2:])
    return _Base(tuple(traces), bounds)


def _open_path(path: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    return [round(float(p[0]), 1) for p in path], [round(float(p[1]), 1) for p in path]


def _bounds(traces: Sequence[Mapping[str, Any]]) -> tuple[float, float, float, float] | None:
    xs = [v for t in traces for v in t.get("x") or [] if isinstance(v, int | float)]
    ys = [v for t in traces for v in t.get("y") or [] if isinstance(v, int | float)]
    if not xs or not ys:
        return None
    return min(xs), max(xs), min(ys), max(ys)


def _building_name(kind: str) -> str:
    return _(BUILDING_NAMES[kind]) if kind in BUILDING_NAMES else f"{kind.capitalize()}s"


def _severity(severity: str | None) -> str:
    from dashboard.views import severity_label  # views draws the feed, this the map

    return severity_label(severity)


# -- the heatmap -----------------------------------------------------------------------------


def _nice(value: float) -> float:
    """Round to two significant digits, so level edges read well in the legend."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.2g}")


def level_edges(values: Iterable[float], n_levels: int = N_LEVELS) -> list[float]:
    """Edges of up to ``n_levels`` colour levels: quantiles of the values, rounded.

    Quantile classes give each colour about as many cells, so a skewed count (one crowded
    square, many quiet streets) still shows structure. Returns [] for no values.
    """
    vals = sorted(float(v) for v in values if v is not None and math.isfinite(float(v)))
    if not vals:
        return []
    lo, hi = vals[0], vals[-1]
    if lo == hi:
        return [lo, hi]
    inner: set[float] = set()
    for i in range(1, n_levels):
        q = vals[min(len(vals) - 1, round(i * (len(vals) - 1) / n_levels))]
        edge = _nice(q)
        if lo < edge < hi:
            inner.add(edge)
    return [lo, *sorted(inner), hi]


def level_of(value: float, edges: Sequence[float]) -> int:
    """The level (0 = lowest) a value falls in, for edges from :func:`level_edges`."""
    if len(edges) < 2:
        return 0
    return bisect_right(edges, value, 1, len(edges) - 1) - 1


def level_colors(n: int, palette: Sequence[str]) -> list[str]:
    """``n`` colours spread over a palette, always ending on its brightest."""
    if n <= 0:
        return []
    if n == 1:
        return [palette[-1]]
    last = len(palette) - 1
    return [palette[round(i * last / (n - 1))] for i in range(n)]


def heat_traces(
    heat: Mapping[str, Any] | None,
    layer: HeatLayer | None = None,
    title: str | None = None,
) -> list[dict[str, Any]]:
    """H3 hexagons of a /heatmap answer: one filled trace per colour level, plus hover points.

    Each level is ONE scatter trace (hexagons separated by ``None``) whose legend entry
    reads as a colour key. A last marker trace named ``heatmap`` sits on the cell centres
    and carries the hover text (filled areas only hover as a whole).
    """
    cells = [c for c in (heat or {}).get("cells") or [] if c.get("boundary")]
    if not cells:
        return []
    layer = layer or _layer_for(heat)
    edges = level_edges(c.get("value") or 0 for c in cells)
    n = max(1, len(edges) - 1)
    colors = level_colors(n, layer.colors)
    rings: list[list[tuple[list[float], list[float]]]] = [[] for _ in range(n)]
    for cell in cells:
        rings[level_of(float(cell.get("value") or 0), edges)].append(_latlon_ring(cell["boundary"]))
    group_title = title or f"{_(layer.label)} ({_(layer.unit)})"
    traces: list[dict[str, Any]] = []
    for level in range(n - 1, -1, -1):  # legend reads high to low, like a colour bar
        if not rings[level]:
            continue
        x, y = _join(rings[level])
        lo, hi = edges[level], edges[level + 1] if len(edges) > 1 else edges[level]
        label = fmt.number(lo) if lo == hi else f"{fmt.number(lo)} – {fmt.number(hi)}"
        traces.append(
            dict(
                type="scatter", name=label, x=x, y=y, mode="lines", fill="toself",
                fillcolor=_alpha(colors[level], 0.35 + 0.4 * level / max(1, n - 1)),
                line={"color": colors[level], "width": 1}, hoverinfo="skip",
                legendgroup=HEAT_GROUP, legendgrouptitle={"text": group_title},
                legendrank=100 + (n - level),
                meta={"layer": "heat", "level": level, "cells": len(rings[level])},
            )
        )  # fmt: skip
    centres = [to_xy(float(c["lat"]), float(c["lon"])) for c in cells]
    traces.append(
        dict(
            type="scatter", name=HEAT_TRACE_NAME, mode="markers",
            x=[round(p[0], 1) for p in centres], y=[round(p[1], 1) for p in centres],
            customdata=[[fmt.number(c.get("value")), c.get("n", 0), c.get("cell", "")]
                        for c in cells],
            marker={"size": 24, "color": "rgba(0,0,0,0)"}, showlegend=False,
            hovertemplate=(f"<b>%{{customdata[0]}} {_(layer.unit)}</b><br>"
                           + _("{n} events").format(n="%{customdata[1]}")
                           + "<br>H3 %{customdata[2]}<extra></extra>"),
            legendgroup=HEAT_GROUP, meta={"layer": "heat", "cells": len(cells)},
        )
    )  # fmt: skip
    return traces


def _layer_for(heat: Mapping[str, Any] | None) -> HeatLayer:
    kind = (heat or {}).get("kind")
    for layer in HEAT_LAYERS.values():
        if layer.kind == kind:
            return layer
    return HEAT_LAYERS["all"]


def _alpha(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:.2f})"


# -- live layers -----------------------------------------------------------------------------


def vehicle_traces(vehicles: Any, routes: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Vehicles from /events/latest: one trace per vehicle type, arrows along the bearing."""
    route_names = {str(r.get("id")): r.get("name") or r.get("id") for r in routes}
    by_type: dict[str, list[tuple[tuple[float, float], dict[str, Any]]]] = {}
    for event in _items(vehicles):
        xy = _geo_xy(event)
        if xy is None:
            continue
        data = event.get("data") or {}
        by_type.setdefault(str(data.get("vehicle_type") or "vehicle"), []).append((xy, event))
    traces: list[dict[str, Any]] = []
    for vtype in sorted(by_type, key=lambda t: (t != "bus", t)):
        label, colour, size = VEHICLE_STYLE.get(
            vtype, (vtype.replace("_", " ").capitalize(), "#e5e7eb", 16)
        )
        label = _(label) if vtype in VEHICLE_STYLE else label
        rows = by_type[vtype]
        data = [e.get("data") or {} for _, e in rows]
        is_bus = vtype == "bus"
        route_ids = [str(d.get("route_id") or "") for d in data]
        custom = [
            [
                e.get("source", ""),
                route_names.get(r, r) or "–",
                fmt.delay(d.get("delay_s")),
                fmt.occupancy(d.get("occupancy_status")),
                f"{float(d.get('speed_mps') or 0) * 3.6:.0f}",
                fmt.time_of_day(e.get("ts")),
            ]
            for (_, e), d, r in zip(rows, data, route_ids, strict=True)
        ]
        hover = (
            "<b>%{customdata[0]}</b>"
            + (
                "<br>"
                + _("route {route}").format(route="%{customdata[1]}")
                + "<br>%{customdata[2]} · %{customdata[3]}"
                if is_bus
                else ""
            )
            + "<br>"
            + _("{speed} km/h").format(speed="%{customdata[4]}")
            + " · %{customdata[5]}<extra></extra>"
        )
        traces.append(
            dict(
                type="scatter", name=f"{label} ({len(rows)})",
                x=[round(p[0], 1) for p, _ in rows], y=[round(p[1], 1) for p, _ in rows],
                mode="markers+text" if is_bus else "markers",
                text=route_ids if is_bus else None, textposition="top center",
                textfont={"size": 16, "color": colour, "shadow": TEXT_SHADOW},
                marker={"symbol": "arrow-wide", "size": size, "color": colour,
                        "angle": [float(d.get("bearing") or 0) for d in data],
                        "line": {"color": BACKGROUND, "width": 1.5}},
                customdata=custom, hovertemplate=hover,
                legendgroup="live", legendgrouptitle={"text": _("Live")},
                meta={"layer": "vehicles", "vehicle_type": vtype},
            )
        )  # fmt: skip
    return traces


def alert_traces(alerts: Any) -> list[dict[str, Any]]:
    """Active alerts with a position: a red halo and a marker with the title on hover."""
    rows = [
        (xy, a)
        for a in _items(alerts)
        if (a.get("state") or "active") == "active" and (xy := _geo_xy(a)) is not None
    ]
    if not rows:
        return []
    x = [round(p[0], 1) for p, _ in rows]
    y = [round(p[1], 1) for p, _ in rows]
    custom = [
        [
            i18n.alert_title(a),
            _severity(a.get("severity")),
            a.get("source") or "",
            a.get("count") or 1,
            fmt.time_of_day(a.get("last_seen")),
        ]
        for _, a in rows
    ]
    return [
        dict(
            type="scatter", name="alert halo", x=x, y=y, mode="markers", showlegend=False,
            marker={"size": 46, "color": _alpha(ALERT_RED, 0.22),
                    "line": {"color": ALERT_RED, "width": 2}},
            hoverinfo="skip", legendgroup="live",
        ),
        dict(
            type="scatter", name=_("Active alerts ({n})").format(n=len(rows)), x=x, y=y,
            mode="markers",
            marker={"symbol": "circle", "size": 16,
                    "color": ALERT_RED, "line": {"color": "#ffffff", "width": 2}},
            customdata=custom, legendgroup="live", legendgrouptitle={"text": _("Live")},
            hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]} · %{customdata[2]}<br>"
                           + _("×{count}, last {time}").format(
                               count="%{customdata[3]}", time="%{customdata[4]}")
                           + "<extra></extra>"),
            meta={"layer": "alerts"},
        ),
    ]  # fmt: skip


TRAIL_GROUP = "trails"


def trail_traces(
    trails: Iterable[Mapping[str, Any]], at: str | None, trail_min: float = 10
) -> list[dict[str, Any]]:
    """Each vehicle's last minutes as a trail (``/classroom/replay``'s ``trails``): a line per
    vehicle type and its points, fading with age, so that a moving clock animates the trips.

    A point ``trail_min`` old is almost transparent; the newest is solid. Points come as
    ``[lat, lon, ts]``."""
    now = fmt.parse_ts(at)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for trail in trails:
        if len(trail.get("points") or []) >= 2:
            by_type.setdefault(str(trail.get("vehicle_type") or "vehicle"), []).append(trail)
    out: list[dict[str, Any]] = []
    for vtype in sorted(by_type, key=lambda t: (t != "bus", t)):
        label, colour, _size = VEHICLE_STYLE.get(vtype, (vtype.capitalize(), "#e5e7eb", 16))
        label = _(label) if vtype in VEHICLE_STYLE else label
        parts, px, py, alpha = [], [], [], []
        for trail in by_type[vtype]:
            xy = [to_xy(float(p[0]), float(p[1])) for p in trail["points"]]
            parts.append(([round(x, 1) for x, _ in xy], [round(y, 1) for _, y in xy]))
            for (x, y), point in zip(xy, trail["points"], strict=True):
                when = fmt.parse_ts(point[2]) if len(point) > 2 else None
                age = (now - when).total_seconds() / 60 if now and when else 0.0
                px.append(round(x, 1))
                py.append(round(y, 1))
                alpha.append(round(max(0.08, 1 - age / max(trail_min, 1e-9)), 2))
        x, y = _join(parts)
        out.append(
            dict(
                type="scatter", x=x, y=y, mode="lines",
                name=_("{vehicles}: last {minutes} min").format(
                    vehicles=label, minutes=fmt.number(trail_min)),
                line={"color": colour, "width": 2.5}, opacity=0.45, hoverinfo="skip",
                legendgroup=TRAIL_GROUP, legendgrouptitle={"text": _("Trails")},
                meta={"layer": "trails", "vehicle_type": vtype, "vehicles": len(parts)},
            )
        )  # fmt: skip
        out.append(
            dict(
                type="scatter", name=f"{vtype} trail points", x=px, y=py, mode="markers",
                marker={"size": 6, "color": colour, "opacity": alpha}, hoverinfo="skip",
                showlegend=False, legendgroup=TRAIL_GROUP, meta={"layer": "trails"},
            )
        )  # fmt: skip
    return out


# -- the map ---------------------------------------------------------------------------------


def town_map(*args: Any, **kwargs: Any) -> go.Figure:
    """:func:`town_map_dict` as a plotly ``Figure`` (validated; for tests and the wall)."""
    return go.Figure(town_map_dict(*args, **kwargs))


def town_map_dict(
    town: Mapping[str, Any] | None,
    heat: Mapping[str, Any] | None = None,
    vehicles: Any = None,
    alerts: Any = None,
    *,
    layer: HeatLayer | None = None,
    heat_title: str | None = None,
    trails: Iterable[Mapping[str, Any]] = (),
    at: str | None = None,
    trail_min: float = 10,
    compact: bool = False,
) -> dict[str, Any]:
    """The situation map: town, heatmap hexagons, vehicle trails, vehicles and active alerts,
    in metres, as a plain figure dict (Dash sends it as it is: a plotly ``Figure`` would
    validate and deep-copy every trace of the town on every tick, most of a refresh's CPU).
    ``compact``: for a half-width pane (two policies side by side): no route
    labels on the buses (they covered the markers around them; hover names the route),
    smaller place names and legend."""
    town = town or {}
    base = _base_layer(town)
    traces: list[dict[str, Any]] = [*base.traces]
    heat_layer = heat_traces(heat, layer, heat_title)
    n_base_fill = sum(1 for t in base.traces if t.get("fill") == "toself")
    # hexagons above buildings and lake but under streets, stops and labels
    traces[n_base_fill:n_base_fill] = heat_layer
    traces += trail_traces(trails, at, trail_min)
    moving = vehicle_traces(vehicles, town.get("routes") or [])
    if compact:
        moving = [{**v, "mode": "markers", "text": None} for v in moving]
        traces = [
            {**t, "textfont": {**t["textfont"], "size": 12}}
            if (t.get("meta") or {}).get("layer") == "labels"
            else t
            for t in traces
        ]
    traces += moving
    traces += alert_traces(alerts)

    axis = {"visible": False, "showgrid": False, "zeroline": False, "fixedrange": False}
    yaxis = {**axis, "scaleanchor": "x", "scaleratio": 1}
    xaxis = {**axis}
    bounds = base.bounds or _bounds(traces)
    if bounds:
        pad_x = (bounds[1] - bounds[0]) * 0.04 + 50
        pad_y = (bounds[3] - bounds[2]) * 0.04 + 50
        xaxis["range"] = [bounds[0] - pad_x, bounds[1] + pad_x]
        yaxis["range"] = [bounds[2] - pad_y, bounds[3] + pad_y]
    layout: dict[str, Any] = dict(
        paper_bgcolor=BACKGROUND,
        plot_bgcolor=BACKGROUND,
        font={"color": TEXT, "size": 16, "family": "system-ui, sans-serif"},
        margin={"l": 0, "r": 0, "t": 0, "b": 0, "autoexpand": True},
        xaxis=xaxis,
        yaxis=yaxis,
        showlegend=True,
        legend={
            # bottom right, over the lake east of the town, clear of the mode bar at the top
            "x": 0.995,
            "y": 0.01,
            "xanchor": "right",
            "yanchor": "bottom",
            "bgcolor": "rgba(11,18,32,0.88)",
            "bordercolor": "#334155",
            "borderwidth": 1,
            "font": {"size": 12 if compact else 15, "color": TEXT},
            "groupclick": "toggleitem",
            "itemsizing": "constant",
            "tracegroupgap": 10,
            "grouptitlefont": {"size": 13 if compact else 16, "color": TEXT},
        },
        hovermode="closest",
        hoverlabel={"font": {"size": 16}, "bgcolor": "#111827", "bordercolor": "#475569"},
        dragmode="pan",
        uirevision=UIREVISION,
    )
    if not traces:
        layout["annotations"] = [dict(
            text=_("No town data yet"), showarrow=False, font={"size": 24, "color": MUTED},
            xref="paper", yref="paper", x=0.5, y=0.5,
        )]  # fmt: skip
    return {"data": traces, "layout": layout}


def heat_cell_count(fig: go.Figure | Mapping[str, Any]) -> int:
    """Number of heatmap cells drawn in a figure (0 when it has no heatmap trace)."""
    traces = fig["data"] if isinstance(fig, Mapping) else fig.data
    for trace in traces:
        name = trace.get("name") if isinstance(trace, Mapping) else trace.name
        if name == HEAT_TRACE_NAME:
            x = trace.get("x") if isinstance(trace, Mapping) else trace.x
            return len(x or ())
    return 0


# -- the rule timeline -----------------------------------------------------------------------

TRUE_GREEN = "#34d399"
UNJUDGED = "#94a3b8"


def alert_timeline(alerts: Any, incidents: Iterable[Mapping[str, Any]] = ()) -> go.Figure:
    """Alerts on a time axis, one row per rule; incidents of the truth as shaded spans.

    Alerts carrying ``true`` (from ``aqkol rules test``) are green when true and red when
    false; the others grey. Each alert is a bar from first to last seen.
    """
    rows = _items(alerts)
    fig = go.Figure()
    for inc in incidents:
        fig.add_vrect(
            x0=inc["start"], x1=inc["end"], fillcolor="#38bdf8", opacity=0.12, line_width=0,
            annotation_text=inc.get("type", ""), annotation_position="top left",
            annotation_font_color=MUTED,
        )  # fmt: skip
    groups = (
        (_("true alarm"), TRUE_GREEN, lambda a: a.get("true") is True),
        (_("false alarm"), ALERT_RED, lambda a: a.get("true") is False),
        (_("alert"), UNJUDGED, lambda a: a.get("true") is None),
    )
    for name, colour, pick in groups:
        chosen = [a for a in rows if pick(a)]
        if not chosen:
            continue
        fig.add_trace(
            go.Scatter(
                name=f"{name} ({len(chosen)})",
                x=[str(a["first_seen"]) for a in chosen],
                y=[a["rule"] for a in chosen],
                mode="markers",
                marker={"color": colour, "size": 11, "symbol": "line-ns-open",
                        "line": {"width": 3, "color": colour}},
                customdata=[[i18n.alert_title(a), a.get("count", 1), a.get("why", "")]
                            for a in chosen],
                hovertemplate="<b>%{customdata[0]}</b><br>%{x}<br>×%{customdata[1]}"
                              " %{customdata[2]}<extra></extra>",
            )
        )  # fmt: skip
    n_rules = len({a["rule"] for a in rows})
    fig.update_layout(
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND, font={"color": TEXT},
        margin={"l": 10, "r": 10, "t": 30, "b": 30}, height=120 + 40 * n_rules,
        legend={"orientation": "h", "y": 1.08}, xaxis={"gridcolor": "#1f2937"},
        yaxis={"gridcolor": "#1f2937", "automargin": True},
    )  # fmt: skip
    return fig
