"""Stored events: one event, a cursor page, the newest of each source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.api.schemas.common import GeoOut


class EventOut(BaseModel):
    id: str
    kind: str
    source: str
    ts: datetime
    geo: GeoOut | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class LatestEvents(BaseModel):
    as_of: datetime | None
    items: list[EventOut]
