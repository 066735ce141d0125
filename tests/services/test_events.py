"""The event contract: schemas, privacy categories, topics, the CLI's JSON Schema."""

from __future__ import annotations

import json

import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.events import KINDS, ContractError, Privacy, decode, parse_topic, topic_for
from tests.factories import DEFAULT_DATA, make_event

REQUIRED = {
    "env.reading", "gas.reading", "vehicle.position",
    "camera.face_match", "camera.crowd", "camera.object",
}  # fmt: skip


def test_required_kinds_are_registered_with_a_privacy_category_per_field():
    assert set(KINDS) >= REQUIRED
    for cls in KINDS.values():
        assert set(cls.privacy()) == set(cls.model_fields)
    assert KINDS["gas.reading"].privacy()["account"] is Privacy.IDENTIFIER
    assert KINDS["camera.face_match"].privacy()["watchlist"] is Privacy.SENSITIVE
    added = {"school.attendance", "payment.gas", "access.entry", "stop.status", "solar.output",
             "streetlight.status"}  # fmt: skip
    assert set(KINDS) >= added
    assert KINDS["payment.gas"].privacy()["account"] is Privacy.IDENTIFIER
    assert KINDS["access.entry"].privacy()["badge"] is Privacy.IDENTIFIER


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_each_kind_round_trips_through_its_topic(kind):
    ev = make_event(kind, "src-1", data=DEFAULT_DATA[kind])
    topic = topic_for(kind, "src-1", "class7/")
    assert parse_topic(topic, "class7/") == (kind, "src-1")
    assert decode(orjson.dumps(ev), topic, "class7/").id == ev["id"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update(ts="2026-01-15T07:30:00"), "ts: Input should have timezone info"),
        (lambda e: e["data"].update(extra=1), "data.extra: Extra inputs are not permitted"),
        (lambda e: e.update(schema="aqkol.event/2"), "schema: Input should be 'aqkol.event/1'"),
        (lambda e: e.update(source="Gas 42"), "source: String should match pattern"),
        (lambda e: e.update(geo={"lat": 52, "lon": 200}), "coordinates out of range: geo.lon=200"),
    ],
)
def test_contract_violations_name_the_field(mutate, reason):
    ev = make_event()
    mutate(ev)
    with pytest.raises(ContractError) as err:
        decode(orjson.dumps(ev))
    assert reason in err.value.reason


def test_nan_and_infinity_are_refused():
    for bad in (b"NaN", b"Infinity", b"1e999"):
        payload = orjson.dumps(make_event()).replace(b'"m3":0.4', b'"m3":' + bad)
        with pytest.raises(ContractError) as err:
            decode(payload)
        assert err.value.code == "not a finite number", err.value.reason


def test_cli_prints_the_json_schema_with_privacy_categories():
    result = CliRunner().invoke(app, ["events", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    text = json.dumps(schema)
    assert '"x-privacy": "identifier"' in text and '"x-privacy": "telemetry"' in text
    for kind in REQUIRED:
        assert kind in text
    one = json.loads(CliRunner().invoke(app, ["events", "schema", "--kind", "gas.reading"]).output)
    assert one["properties"]["kind"]["const"] == "gas.reading"
    assert CliRunner().invoke(app, ["events", "schema", "--kind", "toaster"]).exit_code == 2
