"""Shapes shared by several resources: a place, a row id, a refusal."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field


class GeoOut(BaseModel):
    lat: float
    lon: float


# a row id as the databases store it (64-bit signed); a larger number is refused with 422
RowId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Refusal(BaseModel):
    """Why a request was refused: a message, a problem with its line, or validation errors."""

    detail: str | dict[str, Any] | list[dict[str, Any]]
