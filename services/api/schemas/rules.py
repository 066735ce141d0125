"""Alert rules: their state, a validation as you type, a preview on the stored day."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RuleProblem(BaseModel):
    file: str
    line: int | None
    message: str


class RuleOut(BaseModel):
    id: str
    file: str
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    purpose: str | None = None
    misuse: bool = False
    kinds: list[str] = Field(default_factory=list)
    needs: list[str] = Field(default_factory=list)
    state: str = Field(description="active, disabled, blinded (by the policy) or refused")
    evaluations: int = Field(
        default=0, description="events evaluated by the ingest since it started"
    )
    matches: int = 0
    errors: int = Field(
        default=0, description="evaluation errors (a field missing, a type mismatch)"
    )
    last_error: str | None = None
    reason: str | None = Field(default=None, description="why blinded")
    error: RuleProblem | None = Field(
        default=None, description="why the file is refused (the last good version stays in force)"
    )
    alerts: dict[str, int] = Field(default_factory=dict, description="alerts by state")
    text: str | None = None
    translations: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="title and description by language (ru, kk), as the file gives them",
    )


class RuleList(BaseModel):
    items: list[RuleOut]


class Validation(BaseModel):
    ok: bool
    error: RuleProblem | None = None
    needs: list[str] = Field(default_factory=list)


class PreviewAlert(BaseModel):
    rule: str
    dedup_key: str
    title: str
    severity: str
    state: str
    first_seen: datetime
    last_seen: datetime
    count: int
    value: float | None
    source: str


class Preview(BaseModel):
    rule: str
    since: datetime | None
    until: datetime | None
    events: int
    truncated: bool
    stopped: str | None = Field(default=None, description="why the replay stopped before the end")
    alerts: list[PreviewAlert]
    state: str
    reason: str | None = None
    errors: int = 0
    last_error: str | None = None
