"""Data-minimization policies: the list, a switch, the history, the DP budget."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PolicyOut(BaseModel):
    id: str
    file: str
    title: str | None = None
    description: str | None = None
    active: bool = False
    refused: str | None = Field(
        default=None, description="file:line: reason, if the file is refused"
    )
    plan: dict[str, str] = Field(default_factory=dict, description="kind -> what happens")
    retention: dict[str, Any] | None = None
    biometric: dict[str, Any] | None = None
    release: dict[str, Any] | None = None


class PolicyList(BaseModel):
    active: str
    items: list[PolicyOut]


class Switch(BaseModel):
    policy: str = Field(min_length=1, max_length=64)
    by: str = Field(default="teacher", min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=256)


class HistoryRow(BaseModel):
    id: int
    policy: str
    sha256: str
    activated_at: datetime
    sim_time: datetime | None
    activated_by: str
    note: str | None


class Budget(BaseModel):
    policy: str
    day: str | None
    epsilon: float | None
    daily_budget: float | None
    spent: float
    left: float | None
    unit: str = Field(
        description="what one release protects, as the policy states it (event or person)"
    )
