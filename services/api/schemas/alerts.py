"""Alerts raised by the rules, and the actions on them (acknowledge, assign, clear)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.api.schemas.common import GeoOut, RowId


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


class AlertList(BaseModel):
    items: list[AlertOut]


class AlertAction(BaseModel):
    """Which alerts to act on: ``ids``, or every open alert of ``rule``."""

    ids: list[RowId] = Field(default_factory=list, max_length=10_000)
    rule: str | None = None
    by: str = Field(
        default="analyst", min_length=1, max_length=64, description="who acts, without a login"
    )
    assignee: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=256)


class AlertActionResult(BaseModel):
    changed: list[int]
