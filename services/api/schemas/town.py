"""The town's public geography, in metres from its centre (the map as data)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from services.api.schemas.common import GeoOut


class Town(BaseModel):
    """The map layers; another town's map may carry layers of its own (kept as given)."""

    model_config = ConfigDict(extra="allow")

    origin: GeoOut | None = None
    lake: list[tuple[float, float]] = []
    streets: list[dict[str, Any]] = []
    buildings: list[dict[str, Any]] = []
    places: list[dict[str, Any]] = []
    stops: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    cameras: list[dict[str, Any]] = []
    env_stations: list[dict[str, Any]] = []
