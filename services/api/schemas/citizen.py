"""The citizen view: what the command center holds about one resident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

SAMPLE = 50  # the newest events of the resident shown


class KindHeld(BaseModel):
    kind: str
    events: int
    first: datetime
    last: datetime
    fields: list[str] = Field(description="the data fields held for these events")


class CitizenView(BaseModel):
    policy: str
    identifiers: dict[str, str]
    pseudonyms: int = Field(description="pseudonyms the policy made of these identifiers")
    kinds: list[KindHeld]
    events: list[dict[str, Any]] = Field(description=f"the newest {SAMPLE}")
    alerts: list[dict[str, Any]]
