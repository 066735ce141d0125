"""Response models (the OpenAPI description at /docs is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field


class GeoOut(BaseModel):
    lat: float
    lon: float


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
        None, description="how the active policy protected this release (k, DP budget)"
    )


class AlertOut(BaseModel):
    id: int
    rule: str
    title: str
    severity: str
    state: str
    kind: str
    source: str
    geo: GeoOut | None
    value: float | None
    count: int
    first_seen: datetime
    last_seen: datetime
    event_id: str | None
    details: dict[str, Any]
    dedup_key: str
    purpose: str | None = None
    misuse: bool = False
    assignee: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None
    cleared_by: str | None = None
    clear_reason: str | None = None


# a row id as the databases store it (64-bit signed); a larger number is refused with 422
RowId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Refusal(BaseModel):
    """Why a request was refused: a message, a problem with its line, or validation errors."""

    detail: str | dict[str, Any] | list[dict[str, Any]]


class AlertList(BaseModel):
    items: list[AlertOut]


class AlertAction(BaseModel):
    """Which alerts to act on: ``ids``, or every open alert of ``rule``."""

    ids: list[RowId] = Field(default_factory=list, max_length=10_000)
    rule: str | None = None
    by: str = Field("analyst", min_length=1, max_length=64, description="who acts, without a login")
    assignee: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=256)


class AlertActionResult(BaseModel):
    changed: list[int]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    payload_size: int
    payload_preview: str


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]


class Stats(BaseModel):
    events: int
    dead_letters: int
    dead_letters_by_reason: dict[str, int] = Field(
        default_factory=dict, description="dead letters per reason (services/events/codec.py)"
    )
    alerts_active: int
    by_kind: dict[str, int]
    sim_time: datetime | None


class Health(BaseModel):
    status: str
    database: str
