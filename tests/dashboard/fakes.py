"""An in-process fake of the API for dashboard tests (httpx.MockTransport, no sockets)."""

from __future__ import annotations

from typing import Any

import h3
import httpx

from services.geo import to_latlon

NOW = "2026-01-15T02:00:00+00:00"  # 08:00 in Aqkol


def heat_cells(values: list[float], res: int = 9) -> list[dict[str, Any]]:
    """H3 cells in a row west to east through the centre, one per value."""
    cells = []
    for i, value in enumerate(values):
        cell = h3.latlng_to_cell(*to_latlon(-1500 + 250 * i, 0), res)
        lat, lon = h3.cell_to_latlng(cell)
        boundary = [list(p) for p in h3.cell_to_boundary(cell)]
        cells.append(
            {"cell": cell, "lat": lat, "lon": lon, "value": value, "n": 1, "boundary": boundary}
        )
    return cells


TOWN: dict[str, Any] = {
    "origin": {"lat": 52.0, "lon": 70.933},
    "lake": [[900, -400], [1400, -300], [1500, 300], [1000, 500]],
    "streets": [
        {"name": "Abay avenue", "class": "avenue", "path": [[-800, 0], [800, 0]]},
        {"name": "School street", "class": "street", "path": [[0, -600], [0, 600]]},
    ],
    "buildings": [
        {"kind": "house", "polygon": [[10, 10], [30, 10], [30, 25], [10, 25]]},
        {"kind": "house", "polygon": [[40, 10], [60, 10], [60, 25], [40, 25]]},
        {"kind": "school", "polygon": [[-200, 100], [-100, 100], [-100, 160], [-200, 160]]},
    ],
    "places": [{"id": "school-1", "name": "School No. 1", "kind": "school", "x": -150, "y": 130}],
    "stops": [{"id": "s1", "name": "Centre", "x": 0, "y": 0}],
    "routes": [{"id": "1", "name": "1 Centre", "stops": ["s1"], "path": [[-800, 0], [800, 0]]}],
    "cameras": [{"id": "cam-001", "x": 5, "y": 5, "place": "crossing"}],
}

LATEST = {
    "as_of": NOW,
    "items": [
        {
            "id": "e1", "kind": "vehicle.position", "source": "bus-01", "ts": NOW,
            "geo": {"lat": 52.0, "lon": 70.933},
            "data": {"vehicle_type": "bus", "route_id": "1", "bearing": 90.0, "speed_mps": 8.0,
                     "delay_s": 240, "occupancy_status": "FEW_SEATS_AVAILABLE"},
        }
    ],
}  # fmt: skip

ALERTS = {
    "items": [
        {
            "id": 2, "rule": "large-group", "title": "Large group: 40 people at cam-001",
            "severity": "major", "state": "active", "source": "cam-001", "kind": "camera.crowd",
            "geo": {"lat": 52.0005, "lon": 70.9331}, "value": 40, "count": 3,
            "first_seen": "2026-01-15T01:50:00+00:00", "last_seen": "2026-01-15T01:59:00+00:00",
            "event_id": "e9", "details": {},
        },
        {
            "id": 1, "rule": "large-group", "title": "Large group: 30 people at cam-002",
            "severity": "major", "state": "resolved", "source": "cam-002", "kind": "camera.crowd",
            "geo": None, "value": 30, "count": 1,
            "first_seen": "2026-01-15T01:00:00+00:00", "last_seen": "2026-01-15T01:10:00+00:00",
            "event_id": "e8", "details": {},
        },
    ]
}  # fmt: skip

STATS = {
    "events": 12345,
    "dead_letters": 2,
    "alerts_active": 1,
    "by_kind": {"camera.crowd": 10000, "vehicle.position": 2345},
    "sim_time": NOW,
}


class FakeApi:
    """Answers like the API; counts the requests it saw."""

    def __init__(self, heat_values: list[float] | None = None) -> None:
        self.heat_values = [3, 8, 20, 45] if heat_values is None else heat_values
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        if path == "/town":
            return httpx.Response(200, json=TOWN)
        if path == "/heatmap":
            q = request.url.params
            body = {
                "kind": q.get("kind"), "agg": q.get("agg", "count"), "res": int(q.get("res", 9)),
                "since": "2026-01-15T01:00:00+00:00", "until": NOW,
                "cells": heat_cells(self.heat_values),
            }  # fmt: skip
            return httpx.Response(200, json=body)
        if path == "/events/latest":
            return httpx.Response(200, json=LATEST)
        if path == "/alerts":
            return httpx.Response(200, json=ALERTS)
        if path == "/stats":
            return httpx.Response(200, json=STATS)
        return httpx.Response(404, json={"detail": "Not Found"})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def unreachable(request: httpx.Request) -> httpx.Response:
    """A transport whose every request fails to connect."""
    raise httpx.ConnectError("connection refused", request=request)
