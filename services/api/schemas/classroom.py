"""The teacher's controls of the simulator (its reports are the simulator's own messages)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Speed(BaseModel):
    value: float | Literal["max"] = Field(description="simulated seconds per real second")


class Jump(BaseModel):
    to: str = Field(min_length=4, max_length=40, description="HH:MM (today) or ISO with offset")


class Inject(BaseModel):
    scenario: str = Field(min_length=1, max_length=64)
