"""The heatmap: values per H3 cell over a window, and how the policy protected them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class HeatCell(BaseModel):
    cell: str
    lat: float
    lon: float
    value: float
    n: int
    boundary: list[tuple[float, float]]


class Heatmap(BaseModel):
    kind: str | None
    agg: str
    res: int
    since: datetime | None
    until: datetime | None
    cells: list[HeatCell]
    release: dict[str, Any] | None = Field(
        default=None, description="how the active policy protected this release (k, DP budget)"
    )
