"""The event envelope, privacy categories and the registry of event kinds.

Every field of an event's ``data`` is declared by its kind with a privacy category, so that
policies can act on categories and a new kind is covered by existing policies at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_ID = "aqkol.event/1"
MAX_PAYLOAD_BYTES = 16 * 1024
PRIVACY_KEY = "x-privacy"


class Privacy(StrEnum):
    """What a field can reveal about a person."""

    IDENTIFIER = "identifier"  # person, household, account, plate, face match
    QUASI = "quasi"  # place, time, household size, route
    SENSITIVE = "sensitive"  # watch-list label, health, political
    TELEMETRY = "telemetry"  # temperature, m3, speed


def field(category: Privacy, description: str, **kwargs: Any) -> Any:
    """Declare a data field with its privacy category (kept in the JSON Schema)."""
    return Field(description=description, json_schema_extra={PRIVACY_KEY: category.value}, **kwargs)


class EventData(BaseModel):
    """Base of every kind's ``data``: strict, no undeclared fields, no NaN or Infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    KIND: ClassVar[str]
    DEVICE: ClassVar[str]  # the sensor register's device that sends it
    DESCRIPTION: ClassVar[str] = ""
    VALUE_FIELD: ClassVar[str | None] = None  # the measure a heatmap sums or averages
    # what the envelope's ``source`` reveals: a shared device by default; a household's
    # own meter identifies the household
    SOURCE_PRIVACY: ClassVar[Privacy] = Privacy.TELEMETRY

    @classmethod
    def privacy(cls) -> dict[str, Privacy]:
        """Field name -> privacy category."""
        out: dict[str, Privacy] = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            if not isinstance(extra, dict) or PRIVACY_KEY not in extra:
                raise TypeError(f"{cls.__name__}.{name} has no privacy category")
            out[name] = Privacy(str(extra[PRIVACY_KEY]))
        return out


KINDS: dict[str, type[EventData]] = {}
D = TypeVar("D", bound=type[EventData])


def register(kind: str, *, device: str) -> Callable[[D], D]:
    """Class decorator adding a kind's data model to the contract. ``device`` is the id of
    the kind of device that sends it in the sensor register
    (``services/transparency/register.yaml``, which says why it is there and who answers
    for it): the register's list of what each device sends is derived from these."""

    def deco(cls: D) -> D:
        if kind in KINDS:
            raise ValueError(f"event kind {kind!r} registered twice")
        cls.KIND = kind
        cls.DEVICE = device
        cls.privacy()  # refuse a kind with an unclassified field at import time
        KINDS[kind] = cls
        return cls

    return deco


class Geo(BaseModel):
    """WGS84 position of the device or subject."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


EventId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{8,64}$", description="ULID preferred")]
SourceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class EventBase(BaseModel):
    """The envelope shared by all kinds; ``kind`` and ``data`` are set per kind."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    schema_: Literal["aqkol.event/1"] = Field(alias="schema")
    id: EventId
    kind: str
    source: SourceId
    ts: AwareDatetime = Field(description="Simulated time with its UTC offset (Aqkol is +06:00)")
    geo: Geo | None = None
    data: EventData

    @property
    def value(self) -> float | None:
        """The kind's headline measure, if it has one."""
        name = type(self.data).VALUE_FIELD
        v = getattr(self.data, name) if name else None
        return float(v) if v is not None else None


def event_dict(
    kind: str,
    source: str,
    ts: datetime,
    data: dict[str, Any],
    event_id: str,
    geo: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Build an event as plain JSON-ready data (for publishers; validated on ingest)."""
    out: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "id": event_id,
        "kind": kind,
        "source": source,
        "ts": ts.isoformat(),
    }
    if geo is not None:
        out["geo"] = {"lat": round(geo[0], 6), "lon": round(geo[1], 6)}
    out["data"] = data
    return out
