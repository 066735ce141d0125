"""Payloads the ingest refused, with the reason."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    payload_size: int
    payload_preview: str


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]
