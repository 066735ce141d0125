"""Property-based fuzzing of the payload decoder: any bytes in, an event or a reason out."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.events import ContractError, decode
from tests.factories import make_event

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _decode_or_reason(payload: bytes, topic: str | None = None) -> None:
    try:
        ev = decode(payload, topic)
    except ContractError as exc:
        assert exc.reason and len(exc.reason) < 3000
    else:
        assert ev.kind and ev.id


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_arbitrary_bytes_give_an_event_or_a_reason(payload):
    _decode_or_reason(payload)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_gives_an_event_or_a_reason(value):
    _decode_or_reason(orjson.dumps(value))


@settings(max_examples=300)
@given(st.sampled_from(["id", "kind", "source", "ts", "geo", "data", "schema"]), json_values)
def test_a_valid_event_with_one_field_replaced_gives_an_event_or_a_reason(name, value):
    ev = make_event()
    ev[name] = value
    _decode_or_reason(orjson.dumps(ev), topic=None)


@settings(max_examples=200)
@given(st.sampled_from(["m3", "interval_min", "household", "account"]), json_values)
def test_a_data_field_of_any_type_gives_an_event_or_a_reason(name, value):
    ev = make_event()
    ev["data"][name] = value
    _decode_or_reason(orjson.dumps(ev))


def test_numbers_json_cannot_carry_give_a_reason():
    for literal in (b"-9223372036854775809", b"1" * 400, b"1e400"):
        payload = orjson.dumps(make_event()).replace(b'"m3":0.4', b'"m3":' + literal)
        _decode_or_reason(payload)
