"""What the policy in force removed or changed: the comparison panes' summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Change(BaseModel):
    action: str = Field(description="drop, pseudonymize, generalize, aggregate (fields); "
                        "drop_event (the kind is not stored), refuse_match (a face match on a "
                        "watch list the policy refuses)")  # fmt: skip
    kind: str
    fields: list[str] = Field(default_factory=list)
    at: str = Field(default="ingest", description="where it happens: ingest or edge (the devices)")
    stored: int | None = Field(
        default=None,
        description="events of the kind stored in the window, each so changed (None: none are "
        "stored)",
    )
    wire: int = Field(
        default=0, description="of the newest messages on the wire, how many it touches"
    )


class ExampleField(BaseModel):
    name: str
    category: str
    before: Any = None
    after: Any = None
    change: str = Field(description="kept, dropped, pseudonymized, generalized, aggregated")
    withheld: bool = Field(default=False, description="a value is there; you may not receive it")


class Example(BaseModel):
    kind: str
    id: str
    stored: bool = Field(description="the after side is the stored event (else: not stored)")
    outcome: str = Field(description="changed, not stored, or a block aggregate")
    fields: list[ExampleField]


class Effect(BaseModel):
    policy: str
    since: datetime | None
    until: datetime | None
    window_s: int
    stored: dict[str, int] = Field(description="events stored in the window, by kind")
    totals: dict[str, int] = Field(description="action -> events (stored, or on the wire)")
    changes: list[Change]
    wire_sampled: int = Field(description="how many raw messages the wire counts are of")
    example: Example | None = None
