"""Town parameters (keyword arguments of Town) change the town they name, and nothing else;
Town.run gives the run as pandas DataFrames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulator.geography import build_town, camera_limits
from simulator.model import TOWN_PARAMETERS, Town, check_parameters

SMALL = {"seed": 5, "population_scale": 0.05}


def _kinds(town: Town, hours: float) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for ev in town.events(hours):
        out.setdefault(ev["kind"], []).append(ev)
    return out


def test_every_town_parameter_is_a_keyword_with_the_shipped_default() -> None:
    town = Town(**SMALL, kinds=("env.reading",))
    params = town.params()
    for name, p in TOWN_PARAMETERS.items():
        assert name in params
        if name not in ("population_scale", "temperature_offset_c"):
            assert params[name] == p.default
    assert TOWN_PARAMETERS["cameras"].default == len(build_town().cameras)


def test_an_unknown_or_out_of_range_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="fpirr"):
        Town(fpirr=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="fpir must be between 0 and 1"):
        Town(fpir=2)
    with pytest.raises(ValueError, match="miss_rate_best must not be above"):
        check_parameters({"miss_rate_best": 0.5})
    with pytest.raises(ValueError, match="unknown town parameter 'seed'"):
        check_parameters({"seed": 1})
    lo, hi = camera_limits(2)
    with pytest.raises(ValueError, match=f"cameras must be between {lo} and {hi}"):
        Town(cameras=hi + 1, camera_spacing=2)


def test_more_cameras_give_more_camera_events_and_leave_the_gas_alone() -> None:
    few = _kinds(Town(**SMALL, cameras=60), 2)
    many = _kinds(Town(**SMALL), 2)
    assert len({e["source"] for e in few["camera.crowd"]}) == 60
    assert len({e["source"] for e in many["camera.crowd"]}) == 150
    assert len(many["camera.crowd"]) > 2 * len(few["camera.crowd"])
    assert few["gas.reading"] == many["gas.reading"]  # its own stream: unchanged


def test_camera_spacing_spreads_the_same_number_of_cameras_wider() -> None:
    def reach(town: Town) -> float:
        inter = [c for c in town.map.cameras if c.site == "intersection"]
        return max(math.hypot(c.x, c.y) for c in inter)

    dense = Town(**SMALL, cameras=50, kinds=("env.reading",))
    sparse = Town(**SMALL, cameras=50, camera_spacing=2, kinds=("env.reading",))
    assert len(dense.map.cameras) == len(sparse.map.cameras) == 50
    assert reach(sparse) > reach(dense)


def test_a_higher_fpir_gives_more_false_face_matches() -> None:
    def false_matches(**kw) -> int:
        n = 0

        def on_truth(rec: dict) -> None:
            nonlocal n
            n += rec.get("kind") == "camera.face_match" and not rec["true_match"]

        for _ in Town(**SMALL, kinds=("camera.face_match",), **kw).events(3, truth=on_truth):
            pass
        return n

    assert false_matches(fpir=0.1) > 10 * max(1, false_matches())


def test_the_gas_interval_sets_how_often_meters_read() -> None:
    half_hourly = _kinds(Town(**SMALL, kinds=("gas.reading",)), 4)["gas.reading"]
    quarterly = _kinds(Town(**SMALL, kinds=("gas.reading",), gas_interval_min=15), 4)["gas.reading"]
    assert {e["data"]["interval_min"] for e in quarterly} == {15}
    assert 1.8 < len(quarterly) / len(half_hourly) < 2.2
    # the same use in the same span, read in smaller pieces (readings are noisy: roughly)
    total = lambda evs: sum(e["data"]["m3"] for e in evs)  # noqa: E731
    assert total(quarterly) == pytest.approx(total(half_hourly), rel=0.15)


def test_watch_list_sizes() -> None:
    town = Town(**SMALL, kinds=("env.reading",), watchlist_wanted=20, watchlist_wanted_residents=8)
    wanted = [e for e in town.watchlist if e.watchlist == "wanted"]
    assert len(wanted) == 20
    assert sum(e.resident is not None for e in wanted) == 8
    shipped = Town(**SMALL, kinds=("env.reading",))
    assert [e.watchlist for e in shipped.watchlist].count("wanted") == 6


def test_run_returns_events_and_truth_as_dataframes() -> None:
    run = Town(**SMALL).run(hours=2)
    assert set(run.events) == set(Town(**SMALL, kinds=None).kinds)
    gas = run.events["gas.reading"]
    assert isinstance(gas, pd.DataFrame) and len(gas) > 100
    assert {"id", "source", "ts", "lat", "lon", "m3", "household"} <= set(gas.columns)
    assert str(gas["ts"].dt.tz) == "UTC+06:00"
    assert gas["ts"].is_monotonic_increasing
    # the truth of each event, by its id
    truth = run.truth["events"].set_index("id")
    assert truth.loc[gas["id"], "occupants_home"].notna().all()
    for table in ("residents", "households", "stays", "sightings", "cameras"):
        assert isinstance(run.truth[table], pd.DataFrame) and len(run.truth[table])
    assert run.counts().sum() == len(run.timeline)
    # the same tables each time: run does not advance the town
    again = Town(**SMALL).run(hours=2, truth=False)
    pd.testing.assert_frame_equal(again.events["gas.reading"], gas)
    assert "residents" not in again.truth


def test_run_plays_a_scenario_by_name() -> None:
    run = Town(**SMALL, kinds=("camera.crowd",)).run(hours=7, scenario="protest", truth=False)
    (incident,) = run.truth["incidents"].to_dict("records")
    assert incident["type"] == "protest"
    assert run.params["scenario"] == "protest"
