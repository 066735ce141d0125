"""Warm bus stops, streetlights and solar panels follow the weather and the sun."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import orjson

from services.events import decode, topic_for
from simulator.clock import AQKOL_TZ
from simulator.devices import sun_elevation
from simulator.model import Town


def test_sun_over_aqkol_in_january() -> None:
    noon = sun_elevation(datetime(2026, 1, 15, 13, 20, tzinfo=AQKOL_TZ))
    assert 14 < noon < 19  # 90 - 52 - 21 degrees of declination
    assert sun_elevation(datetime(2026, 1, 15, 9, 0, tzinfo=AQKOL_TZ)) < 0
    assert sun_elevation(datetime(2026, 1, 15, 18, 0, tzinfo=AQKOL_TZ)) < 0
    assert sun_elevation(datetime(2026, 7, 15, 13, 20, tzinfo=AQKOL_TZ)) > 55


def test_a_day_of_devices() -> None:
    town = Town(
        seed=1,
        start=datetime(2026, 1, 15, tzinfo=AQKOL_TZ),
        kinds={"stop.status", "streetlight.status", "solar.output", "env.reading"},
    )
    events = list(town.events(24))
    kinds = Counter(e["kind"] for e in events)
    n_stops = len(town.map.stops)
    assert kinds["stop.status"] == n_stops * 288
    assert kinds["streetlight.status"] % 96 == 0 and kinds["streetlight.status"] >= 96 * 20
    assert kinds["solar.output"] == 4 * 96
    ts = [datetime.fromisoformat(e["ts"]) for e in events]
    assert ts == sorted(ts)
    lights: dict[int, Counter[str]] = defaultdict(Counter)
    solar: dict[int, list[float]] = defaultdict(list)
    outside: list[float] = []
    for e, t in zip(events, ts, strict=True):
        payload = orjson.dumps(e)
        assert orjson.loads(payload) == e
        decode(payload, topic_for(e["kind"], e["source"]))
        d = e["data"]
        if e["kind"] == "streetlight.status":
            lights[t.hour][d["state"]] += 1
            if d["state"] == "on":
                assert d["power_w"] <= d["lamps"] * 90 * 1.03
        elif e["kind"] == "solar.output":
            solar[t.hour].append(d["power_w"])
            assert d["power_w"] <= d["capacity_kw"] * 1000
        elif e["kind"] == "env.reading":
            outside.append(d["temperature_c"])
        else:
            assert d["heater_on"] and d["temperature_c"] > max(outside or [-99]) + 5
    assert lights[22]["on"] > 0.95 * sum(lights[22].values())
    assert lights[13]["off"] > 0.95 * sum(lights[13].values())
    assert max(solar[2]) == 0 and max(solar[20]) == 0
    assert sum(solar[13]) > 0


def test_command_center_turnstile_lets_its_staff_in_and_out() -> None:
    town = Town(seed=1, kinds={"access.entry"})
    truth: dict[str, dict] = {}
    events = list(town.events(24, truth=lambda r: truth.__setitem__(r["id"], r)))
    akimat = next(i for i, p in enumerate(town.map.places) if p.id == "akimat")
    staff = {f"res-{i + 1:05d}" for i in (town.population.day_place == akimat).nonzero()[0]}
    granted: dict[str, Counter[str]] = defaultdict(Counter)
    badges: dict[str, str] = {}
    for e in events:
        decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        d, t = e["data"], truth[e["id"]]
        assert t["resident"] in staff
        if d["decision"] == "granted":
            granted[t["resident"]][d["direction"]] += 1
            assert badges.setdefault(t["resident"], d["badge"]) == d["badge"]  # one badge each
        else:
            assert d["badge"] is None and d["likelihood"] < 0.8
    assert set(granted) == staff  # a weekday: everyone came to work and left
    assert all(c == Counter(["in", "out"]) for c in granted.values())
    assert len(set(badges.values())) == len(staff)
    denied = sum(e["data"]["decision"] == "denied" for e in events)
    assert 0 < denied < 0.1 * len(events)
