"""Decode and validate one MQTT payload against the contract, with a readable reason."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import Field, TypeAdapter, ValidationError, create_model

from services.events import kinds as _kinds  # noqa: F401  (registers kinds)
from services.events.contract import KINDS, MAX_PAYLOAD_BYTES, EventBase
from services.events.topics import parse_topic


class ContractError(ValueError):
    """A payload that breaks the contract; ``reason`` says how, for the dead-letter store."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@lru_cache
def event_models() -> dict[str, type[EventBase]]:
    """One envelope model per registered kind."""
    return {
        kind: create_model(
            "Event_" + kind.replace(".", "_"),
            __base__=EventBase,
            kind=(Literal[kind], ...),  # type: ignore[valid-type]
            data=(data_cls, ...),
        )
        for kind, data_cls in sorted(KINDS.items())
    }


@lru_cache
def _adapter() -> TypeAdapter[Any]:
    models = tuple(event_models().values())
    union = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
    return TypeAdapter(union)


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
        raise ContractError(f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ContractError(f"invalid event: expected a JSON object, got {type(raw).__name__}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ContractError(f"unknown kind: {kind!r}")
    try:
        event: EventBase = _adapter().validate_python(raw)
    except ValidationError as exc:
        raise ContractError(f"invalid {kind}: {_describe(exc)}") from None
    if topic is not None:
        parsed = parse_topic(topic, prefix)
        if parsed != (event.kind, event.source):
            raise ContractError(
                f"topic mismatch: topic {topic!r} but payload is {event.kind}/{event.source}"
            )
    return event


def json_schema() -> dict[str, Any]:
    """JSON Schema of every event kind, for devices written in other languages."""
    schema = _adapter().json_schema(by_alias=True)
    schema["title"] = "Aqkol event (aqkol.event/1)"
    schema["description"] = (
        "One event per MQTT message on aqkol/v1/<kind>/<source>, UTF-8 JSON, at most "
        f"{MAX_PAYLOAD_BYTES} bytes. Each data field carries its privacy category in 'x-privacy'."
    )
    return schema
