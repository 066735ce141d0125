"""The audit log: a page of entries, and the check of its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    next_before: int | None


class ChainOut(BaseModel):
    ok: bool
    entries: int
    head: str
    broken_id: int | None = None
    reason: str | None = None
