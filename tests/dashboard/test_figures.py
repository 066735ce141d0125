"""The situation map's figures, as pure functions: no browser, no network."""

from __future__ import annotations

import h3
import plotly.io as pio
import pytest

from dashboard import figures
from services.api import schemas as api
from services.events.geo import to_latlon
from simulator.geography import build_town
from tests.dashboard.fakes import shaped

TOWN = build_town().to_json()


def _heat(values: list[float]) -> dict:
    cells = []
    for i, v in enumerate(values):
        cell = h3.latlng_to_cell(*to_latlon(-1500 + 250 * i, 0), 9)
        lat, lon = h3.cell_to_latlng(cell)
        cells.append(
            {"cell": cell, "lat": lat, "lon": lon, "value": v, "n": 1,
             "boundary": [list(p) for p in h3.cell_to_boundary(cell)]}
        )  # fmt: skip
    return shaped(api.Heatmap, {"kind": "camera.crowd", "agg": "sum", "res": 9, "since": None,
                                "until": None, "cells": cells})  # fmt: skip


def test_level_edges_are_sorted_and_cover_all_values():
    values = [1, 2, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]
    edges = figures.level_edges(values)
    assert edges[0] == 1 and edges[-1] == 144 and edges == sorted(edges)
    assert 2 <= len(edges) <= figures.N_LEVELS + 1
    levels = [figures.level_of(v, edges) for v in values]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == len(edges) - 2


def test_heatmap_hexagons_are_binned_into_one_trace_per_level():
    heat = _heat([1, 2, 3, 10, 20, 40, 80, 160])
    traces = figures.heat_traces(heat, figures.HEAT_LAYERS["people"])
    fills = [t for t in traces if t.get("fill") == "toself"]
    assert 1 < len(fills) <= figures.N_LEVELS
    assert sum(t["meta"]["cells"] for t in fills) == 8
    for t in fills:  # each hexagon is 6 corners + closing point, separated by None
        assert t["x"].count(None) == t["meta"]["cells"] - 1
    hover = [t for t in traces if t["name"] == figures.HEAT_TRACE_NAME]
    assert len(hover) == 1 and len(hover[0]["x"]) == 8


def test_town_map_draws_town_heat_vehicles_and_alerts_without_map_tiles():
    vehicles = shaped(api.LatestEvents, {
        "as_of": None,
        "items": [
            {"id": "a", "kind": "vehicle.position", "source": "bus-01",
             "ts": "2026-01-15T02:00:00Z", "geo": {"lat": 52.0, "lon": 70.93},
             "data": {"vehicle_type": "bus", "route_id": "r1", "bearing": 90, "speed_mps": 7}}
        ]
    })  # fmt: skip
    alerts = shaped(api.AlertList, {
        "items": [
            {"id": 1, "rule": "large-group", "title": "Large group: 40 people at cam-001",
             "severity": "major", "state": "active", "kind": "camera.crowd", "source": "cam-001",
             "geo": {"lat": 52.001, "lon": 70.931}, "value": 40, "count": 2,
             "first_seen": "2026-01-15T02:00:00Z", "last_seen": "2026-01-15T02:01:00Z",
             "event_id": "x", "details": {}, "dedup_key": "cam-001"}
        ]
    })  # fmt: skip
    fig = figures.town_map(TOWN, _heat([5, 50]), vehicles, alerts)
    names = [t.name or "" for t in fig.data]
    assert "Lake" in names and any(n.startswith("Cameras") for n in names)
    assert any(t.meta and t.meta.get("layer") == "buildings" for t in fig.data)
    assert any(t.meta and t.meta.get("layer") == "streets" for t in fig.data)
    assert figures.heat_cell_count(fig) == 2
    assert any("bus" in n.lower() and len(t.x) == 1 for n, t in zip(names, fig.data, strict=True))
    assert any("alert" in n.lower() for n in names)
    # offline: only plain scatter traces, no mapbox/maplibre (they fetch glyphs and tiles)
    assert {t.type for t in fig.data} == {"scatter"}
    assert "mapbox" not in pio.to_json(fig) and "maplibre" not in pio.to_json(fig)
    assert fig.layout.yaxis.scaleanchor == "x"  # metres are metres both ways


@pytest.mark.parametrize("town", [None, {}])
def test_empty_inputs_give_a_valid_figure(town):
    fig = figures.town_map(town, None, None, None)
    assert figures.heat_cell_count(fig) == 0
    pio.to_json(fig)  # serialisable for Dash
