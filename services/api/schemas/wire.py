"""The wire view: raw messages on the broker, each field with its privacy category."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class WireField(BaseModel):
    name: str
    value: Any = None
    category: str = Field(description="identifier, quasi, sensitive or telemetry")
    withheld: bool = Field(
        default=False, description="the value is on the wire; you may not read it"
    )


class WireMessage(BaseModel):
    received_at: datetime
    topic: str
    kind: str
    bytes: int
    fields: list[WireField]


class WireSample(BaseModel):
    policy: str
    edge: list[str] = Field(description="what the devices do before publishing")
    seen: int = Field(description="messages the tap received since it started")
    items: list[WireMessage]
