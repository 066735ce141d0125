"""Decode and validate one MQTT payload against the contract, with a readable reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import Field, TypeAdapter, ValidationError, create_model

from services.events import kinds as _kinds  # noqa: F401  (registers kinds)
from services.events.contract import KINDS, MAX_PAYLOAD_BYTES, EventBase
from services.events.topics import parse_topic

# Event times the contract accepts, whatever the simulated clock says: before 2000 is a
# device whose clock was never set (the Unix epoch, 1970, is the usual one); from 2100 on
# is garbage. Times ahead of the stream's own clock are judged by the ingest.
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)

# Every dead letter's reason starts with one of these, then ": " and the detail; the
# counters (the ingest's stats, the API's /stats) are kept per reason.
REASONS = (
    "oversized",
    "invalid UTF-8",
    "not a finite number",
    "invalid JSON",
    "invalid event",
    "unknown kind",
    "coordinates out of range",
    "timestamp out of range",
    "invalid field",
    "topic mismatch",
    "timestamp ahead of the clock",
    "duplicate id",
    "decoder error",
)


class ContractError(ValueError):
    """A payload that breaks the contract; ``reason`` says how, for the dead-letter store."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def code(self) -> str:
        """The reason's kind (one of :data:`REASONS`), the key its counter is kept under."""
        return reason_code(self.reason)


def reason_code(reason: str) -> str:
    """The counter a dead letter's reason belongs to."""
    head = reason.split(":", 1)[0]
    return head if head in REASONS else "invalid field" if head.startswith("invalid ") else head


@lru_cache
def event_models() -> dict[str, type[EventBase]]:
    """One envelope model per registered kind."""
    return {
        kind: create_model(
            "Event_" + kind.replace(".", "_"),
            __base__=EventBase,
            kind=(Literal[kind], ...),  # type: ignore[arg-type]  # a literal made at run time
            data=(data_cls, ...),
        )
        for kind, data_cls in sorted(KINDS.items())
    }


@lru_cache
def _adapter() -> TypeAdapter[Any]:
    models = tuple(event_models().values())
    union = Annotated[Union[models], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union)


def _where(e: Any) -> str:
    loc = [str(x) for x in e["loc"]]
    if loc and loc[0] in KINDS:  # the discriminator tag is noise to the reader
        loc = loc[1:]
    return ".".join(loc) or "payload"


def _classify(kind: str, err: ValidationError) -> ContractError:
    """The reason for a validation error: the hostile cases by name, the rest by field."""
    errors = err.errors(include_url=False)
    for e in errors:
        where = _where(e)
        if e["type"] == "finite_number":
            return ContractError(f"not a finite number: {where} of {kind} ({e['msg']})")
        if where in ("geo.lat", "geo.lon") and e["type"] in (
            "greater_than_equal",
            "less_than_equal",
        ):
            return ContractError(
                f"coordinates out of range: {where}={e['input']!r} ({e['msg'].lower()})"
            )
    return ContractError(f"invalid {kind}: {_describe(err)}")


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False)[:3]:
        loc = [str(x) for x in e["loc"]]
        if loc and loc[0] in KINDS:  # the discriminator tag is noise to the reader
            loc = loc[1:]
        where = ".".join(loc) or "payload"
        parts.append(f"{where}: {e['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode(payload: bytes, topic: str | None = None, prefix: str = "") -> EventBase:
    """Parse and validate one payload; raise ContractError with a reason if it is bad."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"oversized: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _json_error(payload, exc) from None
    if not isinstance(raw, dict):
        raise ContractError(f"invalid event: expected a JSON object, got {type(raw).__name__}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ContractError(f"unknown kind: {kind!r}")
    try:
        event: EventBase = _adapter().validate_python(raw)
    except ValidationError as exc:
        raise _classify(kind, exc) from None
    if not TS_MIN <= event.ts < TS_MAX:
        raise ContractError(
            f"timestamp out of range: {event.ts.isoformat()} (the contract accepts "
            f"{TS_MIN.date()} to {TS_MAX.date()})"
        )
    if topic is not None:
        parsed = parse_topic(topic, prefix)
        if parsed != (event.kind, event.source):
            raise ContractError(
                f"topic mismatch: topic {topic!r} but payload is {event.kind}/{event.source}"
            )
    return event


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def _json_error(payload: bytes, exc: orjson.JSONDecodeError) -> ContractError:
    """Why a payload is not JSON, told apart (only on this rare path, so it may be slow)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as bad:
        return ContractError(f"invalid UTF-8: byte 0x{payload[bad.start]:02x} at {bad.start}")
    if "infinity" in str(exc):  # a number too large for a double, e.g. 1e400
        return ContractError(f"not a finite number: {exc}")
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except _NonFinite as nf:  # NaN, Infinity, -Infinity: JavaScript, not JSON
        return ContractError(f"not a finite number: {nf} (JSON has no NaN or Infinity)")
    except (ValueError, RecursionError):
        pass
    return ContractError(f"invalid JSON: {exc}")


def json_schema() -> dict[str, Any]:
    """JSON Schema of every event kind, for devices written in other languages."""
    schema = _adapter().json_schema(by_alias=True)
    schema["title"] = "Aqkol event (aqkol.event/1)"
    schema["description"] = (
        "One event per MQTT message on aqkol/v1/<kind>/<source>, UTF-8 JSON, at most "
        f"{MAX_PAYLOAD_BYTES} bytes. Each data field carries its privacy category in 'x-privacy'."
    )
    return schema
