"""Where Aqkol is, and the flat projection the situation room draws in.

The town is small (a few kilometres), so an equirectangular projection around the town
centre is exact to centimetres and keeps the map in plain metres, fully offline.
"""

from __future__ import annotations

import math

import h3

ORIGIN_LAT = 52.000
ORIGIN_LON = 70.933
STORE_H3_RES = 10  # cells stored with each event; coarser resolutions are derived
_M_PER_DEG_LAT = 111_320.0
_M_PER_DEG_LON = _M_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT))


def to_latlon(x: float, y: float) -> tuple[float, float]:
    """Metres east/north of the town centre to (lat, lon)."""
    return ORIGIN_LAT + y / _M_PER_DEG_LAT, ORIGIN_LON + x / _M_PER_DEG_LON


def to_xy(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) to metres east/north of the town centre."""
    return (lon - ORIGIN_LON) * _M_PER_DEG_LON, (lat - ORIGIN_LAT) * _M_PER_DEG_LAT


def cell_of(lat: float, lon: float, res: int = STORE_H3_RES) -> str:
    """The H3 cell holding a point."""
    return str(h3.latlng_to_cell(lat, lon, res))
