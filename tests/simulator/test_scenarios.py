"""Scenario files: they load, broken ones are refused with file and line, incidents show."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.events.scenarios import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    scenario_names,
)
from simulator.clock import AQKOL_TZ
from simulator.gas import PRESSURE_LINE_KPA_PER_M3
from simulator.model import Town

REQUIRED = {"normal-winter-day", "cold-snap", "protest", "missing-child", "gas-leak", "market-day"}


def at(h: int, m: int = 0, day: int = 15) -> datetime:
    return datetime(2026, 1, day, h, m, tzinfo=AQKOL_TZ)


def collect(town: Town, hours: float) -> tuple[list[dict], list[dict]]:
    truth: list[dict] = []
    return list(town.events(hours, truth=truth.append)), truth


def town(name: str | None, *, start: datetime, kinds: set[str], **kw) -> Town:
    scenario = load_scenario(name) if name else None
    return Town(seed=1, start=start, kinds=kinds, scenario=scenario, **kw)


def incidents(truth: list[dict]) -> list[dict]:
    return [r for r in truth if r["kind"] == "incident"]


# --- the files ---------------------------------------------------------------------------


def test_every_scenario_file_loads_and_is_named_after_its_file() -> None:
    assert set(scenario_names()) >= REQUIRED
    for name in scenario_names():
        sc = load_scenario(name)
        assert sc.name == name
        assert sc.start is not None and sc.start.utcoffset().total_seconds() == 6 * 3600
        assert (len(sc.incidents) == 0) == (name == "normal-winter-day")
    assert load_scenario(Path("scenarios/protest.yaml")).name == "protest"


def test_unquoted_times_are_times_not_sexagesimal_numbers() -> None:
    sc = parse_scenario(
        "name: t\nincidents:\n  - {type: protest, at: 11:00, duration_min: 60, crowd: 50}\n"
    )
    assert sc.incidents[0].at == time(11, 0)


BROKEN = [
    ("name: x\nincidents:\n  - type: protest\n    at: '12:00'\n    duration_min: 60\n"
     "    crowd: -5\n", 6, "incidents.0.protest.crowd: Input should be greater than 0"),
    ("name: x\nincidents:\n  - type: parade\n    at: '12:00'\n", 3,
     "incidents.0: Input tag 'parade'"),
    ("name: x\nincidents:\n  - type: protest\n    at: '12:00'\n    duration_min: 60\n"
     "    crowd: 10\n    place: moon\n", 7, "unknown place 'moon'"),
    ("name: x\nincidents:\n  - type: cold_snap\n    at: '25:00'\n    hours: 3\n    depth_c: 5\n",
     4, "incidents.0.cold_snap.at"),
    ("name: x\nspeed: 3\n", 2, "speed: unknown field"),
    ("name: x\nincidents: [\n  - type: protest\n", 3, "not valid YAML"),
    ("name: x\nincidents:\n  - !!python/object/apply:os.system ['true']\n", 3,
     "could not determine"),
    ("- just\n- a list\n", 1, "a scenario is a mapping"),
    ("name: x\nincidents:\n  - at: '12:00'\n    crowd: 5\n", 3,
     "incidents.0: missing 'type' (one of: cold_snap, protest, missing_child, gas_leak,"
     " market_day)"),
    ("name: x\nincidents:\n  - type: protest\n    at: '12:00'\n    duration_min: 60\n"
     "    crowd: 10\n  - at: '13:00'\n    hours: 2\n", 7, "incidents.1: missing 'type'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "reason"), BROKEN)
def test_a_broken_file_is_refused_with_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.file == str(path)
    assert err.value.line == line, str(err.value)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert "Unable to extract tag" not in str(err.value)  # no pydantic wording for a lost type


def test_cli_refuses_a_broken_scenario_before_connecting(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nincidents:\n  - type: gas_leak\n    at: noon\n")
    result = CliRunner().invoke(app, ["simulate", "--scenario", str(path), "--hours", "0.1"])
    assert result.exit_code == 2
    assert f"{path}:4:" in result.output.replace("\n", "") and "at" in result.output
    missing = CliRunner().invoke(app, ["simulate", "--scenario", "no-such-scenario"])
    assert missing.exit_code == 2 and "protest" in missing.output  # lists the known ones


# --- the incidents in the events ------------------------------------------------------------


def _max_count_by_hour(events: list[dict], cams: set[str]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for e in events:
        if e["kind"] == "camera.crowd" and e["source"] in cams:
            h = datetime.fromisoformat(e["ts"]).hour
            out[h] = max(out[h], e["data"]["count"])
    return out


def test_protest_raises_crowds_on_the_square_and_activists_are_matched() -> None:
    kinds = {"camera.crowd", "camera.face_match"}
    normal, _ = collect(town("normal-winter-day", start=at(11), kinds=kinds), 4.5)
    t = town("protest", start=at(11), kinds=kinds)
    protest, truth = collect(t, 4.5)
    square = {c.id for c in t.map.cameras if c.place == "square"}
    base, demo = _max_count_by_hour(normal, square), _max_count_by_hour(protest, square)
    assert abs(demo[11] - base[11]) <= 3  # before it starts (activists skip their errands)
    assert base[14] < 30 and demo[14] > 100 and demo[14] > demo[12]  # it grows
    assert demo[15] >= 0 and max(demo[h] for h in (13, 14)) > 3 * max(base.values())
    (inc,) = incidents(truth)
    assert inc["type"] == "protest" and inc["start"] == at(12).isoformat()
    assert inc["end"] == at(15).isoformat() and inc["participants"] == 400
    activists = set(inc["activists_attending"])
    assert activists and "MISUSE" in inc["activist_list_note"]
    assert activists == {
        f"res-{e.resident + 1:05d}" for e in t.watchlist if e.watchlist == "activist" and e.resident
    }
    by_id = {r["id"]: r for r in truth if r["kind"] != "incident"}
    seen = {
        by_id[e["id"]]["resident"]
        for e in protest
        if e["kind"] == "camera.face_match"
        and e["source"] in square
        and e["data"]["watchlist"] == "activist"
        and by_id[e["id"]]["true_match"]
    }
    assert seen and seen <= activists


def test_same_seed_and_scenario_give_identical_events() -> None:
    def once() -> bytes:
        sc = load_scenario("protest")
        ev, tr = collect(Town(seed=9, start=at(11, 50), population_scale=0.3, scenario=sc), 0.5)
        return orjson.dumps(ev) + orjson.dumps(tr)

    assert once() == once()


def test_missing_child_is_seen_on_the_route_only_in_the_scenario() -> None:
    kinds = {"camera.face_match"}
    t = town("missing-child", start=at(9), kinds=kinds)
    events, truth = collect(t, 6)
    normal, _ = collect(town("normal-winter-day", start=at(9), kinds=kinds), 6)
    (inc,) = incidents(truth)
    child = next(e for e in t.watchlist if e.watchlist == "missing" and e.resident is not None)
    assert inc["enrollment_id"] == child.id and t.population.age[child.resident] < 18
    assert [v["place"] for v in inc["visits"]] == ["market", "station", "square"]
    assert inc["start"] == at(9, 30).isoformat() and inc["end"] > inc["visits"][-1]["leave"]
    route_cams = {c.id for c in t.map.cameras if c.place in ("market", "station", "square")}

    found = datetime.fromisoformat(inc["end"])

    def sightings(evs: list[dict]) -> list[dict]:
        """Recognitions of the child at the route's cameras while the child is missing."""
        return [
            e
            for e in evs
            if e["data"]["enrollment_id"] == child.id
            and e["source"] in route_cams
            and at(9, 30) <= datetime.fromisoformat(e["ts"]) <= found
        ]

    by_id = {r["id"]: r for r in truth}
    seen = [e for e in sightings(events) if by_id[e["id"]]["true_match"]]  # not false matches
    assert seen and all(e["data"]["watchlist"] == "missing" for e in seen)
    assert {by_id[e["id"]]["resident"] for e in seen} == {f"res-{child.resident + 1:05d}"}
    places = {next(c.place for c in t.map.cameras if c.id == e["source"]) for e in seen}
    assert len(places) >= 2  # seen at more than one stop of the walk
    assert len(seen) > len(sightings(normal))


def test_gas_leak_adds_a_steady_flow_to_one_meter_only() -> None:
    kinds = {"gas.reading"}
    leak, truth = collect(town("gas-leak", start=at(6, 30), kinds=kinds), 8)
    normal, _ = collect(town("normal-winter-day", start=at(6, 30), kinds=kinds), 8)
    (inc,) = incidents(truth)
    meter = inc["meter"]
    assert inc["household"] == "hh-" + meter[4:]
    assert [e for e in leak if e["source"] != meter] == [e for e in normal if e["source"] != meter]
    pairs = [
        (a["data"]["m3"], b["data"]["m3"], datetime.fromisoformat(a["ts"]))
        for a, b in zip(
            [e for e in leak if e["source"] == meter],
            [e for e in normal if e["source"] == meter],
            strict=True,
        )
    ]
    before = [a - b for a, b, ts in pairs if ts < at(10)]
    after = [a - b for a, b, ts in pairs if ts > at(10, 31)]
    assert before and all(abs(d) < 1e-9 for d in before)
    assert after and all(abs(d - 0.8) < 0.002 for d in after)
    # the leak's flow through the service line drops the pressure at that meter only
    kpa = [
        (a["data"]["pressure_kpa"], b["data"]["pressure_kpa"], datetime.fromisoformat(a["ts"]))
        for a, b in zip(
            [e for e in leak if e["source"] == meter],
            [e for e in normal if e["source"] == meter],
            strict=True,
        )
    ]
    assert all(a == b for a, b, ts in kpa if ts < at(10))
    drops = [b - a for a, b, ts in kpa if ts > at(10, 31)]
    assert drops and all(abs(d - 0.8 * PRESSURE_LINE_KPA_PER_M3) < 0.002 for d in drops)
    others = [e["data"]["pressure_kpa"] for e in leak if e["source"] != meter]
    assert min(a for a, _, ts in kpa if ts > at(10, 31)) < np.percentile(others, 5)


def test_market_day_brings_more_people_to_the_market() -> None:
    kinds = {"camera.crowd"}
    sat = at(8, 30, day=17)
    normal, _ = collect(town(None, start=sat, kinds=kinds), 5)
    t = town("market-day", start=sat, kinds=kinds)
    busy, truth = collect(t, 5)
    market = {c.id for c in t.map.cameras if c.place == "market"}

    def total(evs: list[dict]) -> int:
        return sum(e["data"]["count"] for e in evs if e["source"] in market)

    assert total(busy) > 1.2 * total(normal)  # the market is busy on a Saturday anyway
    assert 2000 < incidents(truth)[0]["participants"] <= 2500  # as many as are free


def test_cold_snap_lowers_the_temperature_and_raises_gas_use() -> None:
    kinds = {"env.reading", "gas.reading"}
    cold, truth = collect(town("cold-snap", start=at(6, 30), kinds=kinds, population_scale=0.2), 2)
    normal, _ = collect(town(None, start=at(6, 30), kinds=kinds, population_scale=0.2), 2)

    def mean(evs: list[dict], kind: str, field: str) -> float:
        return float(np.mean([e["data"][field] for e in evs if e["kind"] == kind]))

    dt = mean(normal, "env.reading", "temperature_c") - mean(cold, "env.reading", "temperature_c")
    assert dt == pytest.approx(18, abs=0.5)
    assert mean(cold, "gas.reading", "m3") > 1.2 * mean(normal, "gas.reading", "m3")
    (inc,) = incidents(truth)
    assert inc["type"] == "cold_snap" and inc["end"] == at(0, day=18).isoformat()


SIGNAL_KINDS = {
    "cold_snap": "env.reading",
    "protest": "camera.crowd",
    "market_day": "camera.crowd",
    "missing_child": "camera.crowd",
    "gas_leak": "gas.reading",
}


def _signal(inc: dict, events: list[dict], truth: dict[str, dict], t: Town) -> float:
    """How strongly an incident shows in the events of its window (larger = more)."""
    kind = SIGNAL_KINDS[inc["type"]]
    evs = [e for e in events if e["kind"] == kind]
    if inc["type"] == "cold_snap":
        return -float(np.mean([e["data"]["temperature_c"] for e in evs]))
    if inc["type"] == "gas_leak":
        return sum(e["data"]["m3"] for e in evs if e["source"] == inc["meter"])
    places = inc["params"]["route"] if inc["type"] == "missing_child" else [inc["params"]["place"]]
    cams = {c.id for c in t.map.cameras if c.place in places}
    return sum(truth[e["id"]]["true_count"] for e in evs if e["source"] in cams)


@pytest.mark.parametrize("name", [n for n in scenario_names() if load_scenario(n).incidents])
def test_each_scenario_files_incidents_appear_in_the_events(name: str) -> None:
    """For every incident of every scenario file: its truth record is written first, and
    the events of its first hour show it (more than the same town without it)."""
    sc = load_scenario(name)
    for n, inc in enumerate(sc.incidents):
        midnight = sc.start.replace(hour=0, minute=0, second=0, microsecond=0)
        start = midnight + timedelta(milliseconds=inc.t0)
        kinds = {SIGNAL_KINDS[inc.type]}
        runs = []
        for scenario in (sc, None):
            t = Town(seed=3, start=start, population_scale=0.2, kinds=kinds, scenario=scenario)
            truth: list[dict] = []
            events = list(t.events(1.0, truth=truth.append))
            runs.append((t, events, {r["id"]: r for r in truth if "id" in r}, truth))
        (t, events, by_id, truth), (t0, events0, by_id0, truth0) = runs
        recs = incidents(truth)
        assert not incidents(truth0)
        assert truth[: len(recs)] == recs  # the incidents' records come before any event's
        rec = recs[n]
        assert rec["type"] == inc.type and rec["start"] == start.isoformat()
        with_it, without = _signal(rec, events, by_id, t), _signal(rec, events0, by_id0, t0)
        assert with_it > without, (name, inc.type, with_it, without)
