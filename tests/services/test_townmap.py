"""The command center reads the town's map as data: the shipped map is the simulator's export
of its town (so the two never drift), another town's map is taken from AQKOL_TOWN_MAP by
/town, geofences and scenarios, and a file that is not a map is refused with its name."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.events.scenarios import ScenarioError, incident_type_names, parse_scenario
from services.events.town import INCIDENT_TYPES, MISUSE_WATCHLISTS, WATCHLISTS
from services.events.townmap import DEFAULT_MAP, ENV, town_map
from services.rules.spec import RuleError, parse_rule
from simulator.geography import build_town


def test_the_shipped_map_is_the_simulators_town():
    assert orjson.loads(DEFAULT_MAP.read_bytes()) == orjson.loads(
        orjson.dumps(build_town().to_json())
    ), "the town changed: run `aqkol events town-map --out services/events/data/aqkol-map.json`"
    assert set(town_map(DEFAULT_MAP).places) == {p.id for p in build_town().places}


def test_the_export_command_writes_the_map(tmp_path: Path):
    out = tmp_path / "map.json"
    result = CliRunner().invoke(app, ["events", "town-map", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == DEFAULT_MAP.read_bytes()


def _other_town(tmp_path: Path) -> Path:
    data = orjson.loads(DEFAULT_MAP.read_bytes())
    data["places"] = [{"id": "pier", "name": "Pier", "kind": "leisure", "x": 10.0, "y": -5.0}]
    path = tmp_path / "other-town.json"
    path.write_bytes(orjson.dumps(data))
    return path


RULE = """
id: at-the-{place}
title: someone at the {place}
severity: info
purpose: other
kinds: [camera.crowd]
where: {{place: {place}}}
when: "true"
"""


def test_another_towns_map_is_used_for_geofences_and_scenarios(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(_other_town(tmp_path)))
    assert list(town_map().places) == ["pier"]
    assert parse_rule(RULE.format(place="pier"), "r.yaml").spec.id == "at-the-pier"
    with pytest.raises(RuleError, match=r"r\.yaml:7: .*unknown place 'square' \(known: pier\)"):
        parse_rule(RULE.format(place="square"), "r.yaml")
    scenario = (
        "name: x\nincidents:\n  - {type: protest, at: '11:00', duration_min: 30, crowd: 50,"
        " place: square}\n"
    )
    with pytest.raises(ScenarioError, match=r"x\.yaml.*unknown place 'square' \(known: pier\)"):
        parse_scenario(scenario, "x.yaml")


def test_a_file_that_is_not_a_map_is_refused_with_its_name(tmp_path: Path):
    bad = tmp_path / "not-a-map.json"
    bad.write_bytes(b'{"streets": []}')
    with pytest.raises(ValueError, match=r"not-a-map\.json: not a town map"):
        town_map(bad)


def test_the_contracts_facts_are_the_simulators():
    assert tuple(incident_type_names()) == INCIDENT_TYPES
    assert set(WATCHLISTS) >= MISUSE_WATCHLISTS
    from services.events import event_models

    schema = event_models()["camera.face_match"].model_json_schema()
    assert tuple(schema["$defs"]["FaceMatch"]["properties"]["watchlist"]["enum"]) == WATCHLISTS
