"""Town parameters in an experiment's grid: refused at their line when unknown or out of
range, and a swept one really changes the simulated town, its cached day and the cell id."""

from __future__ import annotations

import pytest

from services.lab.data import DayKey, load_day
from services.lab.evaluate import Params, policy_with
from services.lab.experiment import ExperimentError, parse_experiment
from services.lab.runner import cell_id, day_key
from services.policy.active import PolicyBook

HEAD = """id: sweep
title: A town sweep
policies: [none]
seeds: [3]
hours: 2
population_scale: 0.05
metrics: [unicity]
grid:
  time_bucket_min: [60]
"""


def _parse(grid_lines: str):
    return parse_experiment(HEAD + grid_lines, "experiments/sweep.yaml")


@pytest.mark.parametrize(
    ("grid", "line", "reason"),
    [
        ("  face_size: [1, 2]\n", 10, "unknown parameter 'face_size'"),
        ("  fpir: [0.003]\n  camras: [60]\n", 11, "unknown parameter 'camras'"),
        ("  fpir: [0.003, 1.5]\n", 10, "fpir must be between 0 and 1"),
        ("  cameras: [10]\n", 10, "cameras must be between 25 and 165"),
        ("  fpir: [0.01]\n  gas_interval_min: [7]\n", 11, "gas_interval_min must divide a day"),
        ("  watchlist_wanted_residents: [9]\n", 10, "watchlist_wanted_residents"),
        ("  cameras: [60, 60]\n", 10, "given twice"),
    ],
)
def test_a_bad_town_parameter_is_refused_at_its_line(grid, line, reason) -> None:
    with pytest.raises(ExperimentError) as err:
        _parse(grid)
    assert err.value.file == "experiments/sweep.yaml"
    assert err.value.line == line
    assert reason in err.value.reason
    assert str(err.value).startswith(f"experiments/sweep.yaml:{line}: ")


def test_the_unknown_parameter_error_lists_the_known_ones() -> None:
    with pytest.raises(ExperimentError) as err:
        _parse("  fprr: [0.01]\n")
    assert "fpir" in err.value.reason and "h3_res" in err.value.reason


def test_population_scale_is_given_once() -> None:
    with pytest.raises(ExperimentError) as err:
        _parse("  population_scale: [0.05, 0.1]\n")
    assert err.value.line == 10
    assert "both at the top and in the grid" in err.value.reason


def test_swept_town_parameters_are_cells_with_their_own_day_and_id() -> None:
    exp = _parse("  cameras: [60, 150]\n  fpir: [0.003, 0.3]\n")
    cells = exp.cells()
    # in the order of simulator.model.TOWN_PARAMETERS (fpir before cameras)
    assert [(c["cameras"], c["fpir"]) for c in cells] == [
        (60, 0.003),
        (150, 0.003),
        (60, 0.3),
        (150, 0.3),
    ]
    keys = [day_key(exp, c) for c in cells]
    assert len({k.digest() for k in keys}) == 4
    assert len({cell_id(c, exp) for c in cells}) == 4
    # the shipped town's values are the shipped town: one key, with or without them
    assert keys[1] == DayKey.of(seed=3, hours=2, population_scale=0.05)
    assert keys[2].params() == {"population_scale": 0.05, "cameras": 60, "fpir": 0.3}


def test_an_unswept_grid_keeps_its_cells_and_columns() -> None:
    exp = _parse("")
    assert exp.town_swept() == []
    (cell,) = exp.cells()
    assert not set(cell) & {"fpir", "cameras"}
    assert day_key(exp, cell) == DayKey(seed=3, hours=2, population_scale=0.05)


def _false_matches(day) -> int:
    return sum(
        1
        for ev in day.events
        if ev[1] == "camera.face_match" and not day.truths[ev[0]]["true_match"]
    )


def test_a_swept_parameter_changes_the_simulated_day(cache) -> None:
    """More cameras: more camera events; a higher FPIR: more false face matches."""
    exp = _parse("  cameras: [60, 150]\n  fpir: [0.003, 0.3]\n")
    days = {(c["cameras"], c["fpir"]): load_day(day_key(exp, c), cache) for c in exp.cells()}
    assert len({d.folder for d in days.values()}) == 4  # cached apart
    crowd = {k: sum(ev[1] == "camera.crowd" for ev in d.events) for k, d in days.items()}
    assert crowd[(150, 0.003)] > 2 * crowd[(60, 0.003)]
    assert len(days[(60, 0.003)].cameras) == 60
    assert _false_matches(days[(150, 0.3)]) > 10 * max(1, _false_matches(days[(150, 0.003)]))
    assert days[(150, 0.3)].meta["params"]["fpir"] == 0.3


def test_retention_days_overrides_the_policy_retention() -> None:
    spec = PolicyBook().spec("gdpr-minimal")
    assert spec.retention.days("camera.face_match") == 1
    kept = policy_with(spec, Params(retention_days=0.25))
    assert kept.retention.days("camera.face_match") == 0.25
    assert kept.retention.days("gas.reading") == 0.25
    assert policy_with(spec, Params()) is spec


def test_lab_run_gives_results_and_summary_with_the_swept_parameter(cache, tmp_path) -> None:
    from services import lab

    exp = lab.load(
        {
            "id": "tiny-sweep",
            "title": "t",
            "policies": ["none"],
            "seeds": [3, 4],
            "hours": 1,
            "population_scale": 0.05,
            "points": [2],
            "metrics": ["unicity"],
            "grid": {"capture_rate": [0.3, 0.9]},
        }
    )
    res = lab.run(exp, out=tmp_path / "out", cache=cache, plots=False, workers=1)
    assert res.out == tmp_path / "out" and (res.out / "summary.csv").exists()
    assert list(res.results.columns).index("capture_rate") < list(res.results.columns).index(
        "metric"
    )
    assert set(res.results["capture_rate"]) == {0.3, 0.9}
    s = res.summary[(res.summary["metric"] == "traced_units") & (res.summary["points"] == 2)]
    assert set(s["n"]) == {2}  # two seeds behind each mean
    traced = s.set_index("capture_rate")["mean"]
    assert traced[0.9] > traced[0.3]  # more faces captured: more people traced
    with pytest.raises(ExperimentError, match="unknown parameter 'capture'"):
        lab.load(exp, grid={"capture": [0.5]})


def test_trace_days_trace_each_swept_town(cache) -> None:
    from services.lab.data import load_week

    exp = parse_experiment(
        HEAD.replace("hours: 2\n", "hours: 1\ntrace_days: 1\n")
        + "  cameras: [39]\n  camera_spacing: [1, 3]\n",
        "experiments/sweep.yaml",
    )
    spread = {c["camera_spacing"]: load_week(3, 1, cache=cache, **exp.town(c)) for c in exp.cells()}
    # 39 cameras either way: the intersection ones near the centre, or every third street
    assert len(spread[1]) and len(spread[3])
    assert not spread[3].equals(spread[1])
