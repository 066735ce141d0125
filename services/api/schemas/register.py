"""The sensor register as served: each device with its fields and privacy categories."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RegisterOut(BaseModel):
    title: str
    operator: str
    devices: list[dict[str, Any]]
