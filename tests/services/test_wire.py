"""The msgspec contract (the ingest's fast decoder) against the pydantic one it is built from.

The fast decoder must accept exactly what the pydantic decoder accepts, give the same event,
and give the same reason for what it refuses: it falls back to pydantic when msgspec refuses,
so the risk is the other way round, msgspec letting through what pydantic refuses.
"""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.events import ContractError, decode, topic_for
from services.events.wire import data_items, decode_event
from simulator.model import Town
from tests.factories import make_event

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _outcome(fn, payload: bytes, topic: str | None) -> tuple:
    try:
        ev = fn(payload, topic)
    except ContractError as exc:
        return ("refused", exc.reason)
    geo = None if ev.geo is None else (ev.geo.lat, ev.geo.lon)
    data = dict(data_items(ev.data))
    return ("event", ev.id, ev.kind, ev.source, ev.ts.isoformat(), geo, data)


def _same(payload: bytes, topic: str | None = None) -> None:
    assert _outcome(decode_event, payload, topic) == _outcome(decode, payload, topic)


@pytest.fixture(scope="module")
def town_events() -> list[dict]:
    return list(Town(seed=3, population_scale=0.2).events(1.0))


def test_every_kind_of_the_town_decodes_fast_to_the_same_event(town_events) -> None:
    kinds = set()
    for e in town_events:
        payload, topic = orjson.dumps(e), topic_for(e["kind"], e["source"])
        fast = decode_event(payload, topic)
        assert isinstance(fast, msgspec.Struct)  # the fast path, not the fallback
        _same(payload, topic)
        kinds.add(e["kind"])
    assert len(kinds) >= 6


@pytest.mark.parametrize(
    "field, value",
    [
        ("source", "gas-0001\n"),  # Python's "$" matches before a final newline; Rust's does not
        ("id", "01KEZGY9T09FFCYAJFP84G74J7\n"),
        ("ts", "2026-01-15T07:30:00"),  # no UTC offset
        ("ts", "1970-01-01T00:00:00+00:00"),  # a clock never set
        ("ts", "2026-01-15 07:30:00+06:00"),  # pydantic's laxer format: accepted by both
        ("geo", {"lat": 91.0, "lon": 70.0}),
        ("geo", {"lat": 52.0, "lon": 70.0, "alt": 3}),
        ("schema", "aqkol.event/2"),
        ("kind", "gas.leak"),
        ("extra", 1),
    ],
)
def test_hostile_envelopes_get_the_pydantic_verdict(field, value) -> None:
    ev = make_event()
    ev[field] = value
    _same(orjson.dumps(ev), topic_for("gas.reading", "gas-0001"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"schema":"aqkol.event/1","id":"01KEZGY9T09FFCYAJFP84G74J7","kind":"gas.reading",'
        b'"source":"gas-0001","ts":"2026-01-15T07:30:00+06:00",'
        b'"data":{"m3":1e400,"interval_min":30,"household":"hh-0001"}}',
        b'{"schema":"aqkol.event/1","id":"01KEZGY9T09FFCYAJFP84G74J7","kind":"gas.reading",'
        b'"kind":"camera.crowd","source":"gas-0001","ts":"2026-01-15T07:30:00+06:00",'
        b'"data":{"m3":1,"interval_min":30,"household":"hh-0001"}}',
        b'{"schema":"aqkol.event/1","id":"\\ud800bad-surrogate"}',
        b"[1, 2, 3]",
        b"\xff\xfe",
        b'{"kind": NaN}',
    ],
)
def test_hostile_payloads_get_the_pydantic_verdict(raw) -> None:
    _same(raw)


def test_topic_mismatch_is_refused_on_the_fast_path_too() -> None:
    payload = orjson.dumps(make_event())
    _same(payload, topic_for("gas.reading", "gas-0002"))
    with pytest.raises(ContractError, match="topic mismatch"):
        decode_event(payload, topic_for("gas.reading", "gas-0002"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["id", "kind", "source", "ts", "geo", "data", "schema"]), json_values)
def test_an_envelope_field_of_any_value_gets_the_pydantic_verdict(name, value) -> None:
    ev = make_event()
    ev[name] = value
    _same(orjson.dumps(ev))


KIND_FIELDS = [
    (kind, name)
    for kind in ("camera.face_match", "vehicle.position", "camera.crowd", "gas.reading")
    for name in (*make_event(kind=kind)["data"], "not_declared")
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KIND_FIELDS), json_values)
def test_a_data_field_of_any_value_gets_the_pydantic_verdict(kind_field, value) -> None:
    kind, name = kind_field
    ev = make_event(kind=kind, source="dev-1")
    ev["data"][name] = value
    _same(orjson.dumps(ev))
