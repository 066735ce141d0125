"""Counts for the situation room's tiles."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Stats(BaseModel):
    events: int
    dead_letters: int
    dead_letters_by_reason: dict[str, int] = Field(
        default_factory=dict, description="dead letters per reason (services/events/codec.py)"
    )
    alerts_active: int
    by_kind: dict[str, int]
    sim_time: datetime | None
