"""The contract as msgspec structs, for the ingest's hot path.

The kinds are declared once, as pydantic models (:mod:`services.events.kinds`), which give the
JSON Schema and the readable reasons of dead letters. From the same declarations this module
builds msgspec structs (types, bounds, lengths, patterns, literals, optional fields, no
unknown fields, an aware ``ts``), which decode and validate a payload in one pass, about ten
times faster than orjson plus pydantic.

:func:`decode_event` takes the fast path and falls back to :func:`~services.events.codec.decode`
whenever msgspec refuses a payload: the reason of a dead letter is the pydantic one, word for
word, and anything pydantic accepts that msgspec is stricter about (an int sent as ``5.0``, a
date with a space instead of ``T``) is still accepted. The structs are never more lenient than
the models (``tests/events/test_wire.py`` checks both against hostile payloads).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import msgspec
from pydantic.fields import FieldInfo

from services.events import kinds as _kinds  # noqa: F401  (registers kinds)
from services.events.codec import TS_MAX, TS_MIN, ContractError, decode
from services.events.contract import KINDS, MAX_PAYLOAD_BYTES, SCHEMA_ID, EventBase, Geo
from services.events.topics import ROOT

_BOUNDS = {at.Ge: "ge", at.Gt: "gt", at.Le: "le", at.Lt: "lt"}


def _pattern(p: str) -> str:
    # pydantic matches with Rust's regex, where "$" is the very end; Python's "$" also
    # matches before a final newline, which would let "gas-0001\n" through
    return p[:-1] + r"\Z" if p.endswith("$") and not p.endswith(r"\$") else p


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for m in metadata:
        for cls, name in _BOUNDS.items():
            if isinstance(m, cls):
                meta[name] = getattr(m, name)
        if isinstance(m, at.MaxLen):
            meta["max_length"] = m.max_length
        elif isinstance(m, at.MinLen):
            meta["min_length"] = m.min_length
        elif getattr(m, "pattern", None) is not None:
            meta["pattern"] = _pattern(m.pattern)
        elif not isinstance(m, tuple(_BOUNDS)):
            raise TypeError(f"no msgspec translation of the constraint {m!r}")
    return meta


def _type(annotation: Any, metadata: list[Any]) -> Any:
    """The msgspec type of a pydantic field: its constraints on the non-None part."""
    meta = _constraints(metadata)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"no msgspec translation of {annotation!r}")
        inner = Annotated[args[0], msgspec.Meta(**meta)] if meta else args[0]
        return inner | None
    if annotation in (int, float, str, bool) or origin is Literal:
        return Annotated[annotation, msgspec.Meta(**meta)] if meta else annotation
    raise TypeError(f"no msgspec translation of {annotation!r}")


def _struct(name: str, fields: dict[str, FieldInfo]) -> type[msgspec.Struct]:
    spec: list[Any] = []
    for fname, info in fields.items():
        typ = _type(info.annotation, info.metadata)
        if info.is_required():
            spec.append((fname, typ))
        else:
            spec.append((fname, typ, info.default))
    return msgspec.defstruct(name, spec, forbid_unknown_fields=True, frozen=True, kw_only=True)


class WireGeo(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: Annotated[float, msgspec.Meta(**_constraints(Geo.model_fields["lat"].metadata))]
    lon: Annotated[float, msgspec.Meta(**_constraints(Geo.model_fields["lon"].metadata))]


_ID = _type(str, EventBase.model_fields["id"].metadata)
_SOURCE = _type(str, EventBase.model_fields["source"].metadata)
_TS = Annotated[datetime, msgspec.Meta(tz=True)]


@lru_cache
def wire_models() -> dict[str, type[msgspec.Struct]]:
    """One envelope struct per kind, tagged by ``kind`` (also a class attribute)."""
    out = {}
    for kind, data_cls in sorted(KINDS.items()):
        data = _struct("Data_" + kind.replace(".", "_"), data_cls.model_fields)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
            ("schema_", Literal[SCHEMA_ID], msgspec.field(name="schema")),
            ("id", _ID),
            ("source", _SOURCE),
            ("ts", _TS),
            ("data", data),
            ("geo", WireGeo | None, None),
        ]
        out[kind] = msgspec.defstruct(
            "Wire_" + kind.replace(".", "_"),
            fields,
            tag_field="kind",
            tag=kind,
            namespace={"kind": kind},
            forbid_unknown_fields=True,
            frozen=True,
        )
    return out


@lru_cache
def _decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(Union[tuple(wire_models().values())])  # noqa: UP007


def data_items(data: Any) -> Iterable[tuple[str, Any]]:
    """(field, value) of an event's ``data``, from either decoder."""
    if isinstance(data, msgspec.Struct):
        return msgspec.structs.asdict(data).items()
    items: Iterable[tuple[str, Any]] = data.__dict__.items()
    return items


def decode_event(payload: bytes, topic: str | None = None, prefix: str = "") -> Any:
    """:func:`~services.events.codec.decode`, fast: an event with ``id``, ``kind``,
    ``source``, ``ts``, ``geo`` (``lat``, ``lon``) and ``data``; ContractError if bad."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"oversized: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        event = _decoder().decode(payload)
    except msgspec.ValidationError:
        return decode(payload, topic, prefix)  # the reason, or pydantic's laxer acceptance
    except msgspec.DecodeError:
        return decode(payload, topic, prefix)
    if not TS_MIN <= event.ts < TS_MAX or (
        topic is not None and topic != f"{prefix}{ROOT}/{event.kind}/{event.source}"
    ):
        return decode(payload, topic, prefix)  # raises, with the reason
    return event
