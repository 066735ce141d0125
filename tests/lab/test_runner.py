"""Experiments: refused with file and line when broken; same seed, same table; resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.lab.evaluate import METRIC_NAMES
from services.lab.experiment import ExperimentError, load_experiment, parse_experiment
from services.lab.runner import run  # the tidy table (services.lab.run: a LabRun)

TINY = """\
id: tiny
title: A tiny town for two hours
policies: [none, gdpr-minimal, edge-counts, dp-heatmaps]
seeds: [3]
hours: 2
population_scale: 0.05
points: [1, 2, 4]
metrics: [unicity, tracking, linkage, occupancy, heatmap, heating, trajectory]
trajectory_people: 40
grid:
  h3_res: [null, 8]
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    return p


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("id: x\ntitle: t\npolicies: [none, nope]\n", 3, "unknown policy 'nope'"),
        ("id: x\ntitle: t\npolicies: [none]\ngrid:\n  h3_res: [99]\n", 5, "not an H3"),
        ("id: x\ntitle: t\npolicies: [none]\nmetrics: [unicity, mood]\n", 4, "metrics.1"),
        ("id: x\ntitle: t\npolicies: [none]\ncolour: red\n", 4, "unknown field"),
        ("id: x\ntitle: t\npolicies: [none]\nscenarios: [no-such-day]\n", 4, "no-such-day"),
        ("id: x\ntitle: t\npolicies: [none]\ntrace_days: 7\n", 1, "trace attacks only"),
        ("id: x\ntitle: t\npolicies: [none]\nalert_rules: [nope]\n", 4, "unknown rule"),
        ("id: x\ntitle: t\npolicies: [none]\nfrontier:\n  utility: mood\n", 5, "unknown metric"),
    ],
)
def test_broken_experiment_is_refused_with_file_and_line(text, line, reason):
    with pytest.raises(ExperimentError) as err:
        parse_experiment(text, "experiments/bad.yaml")
    assert err.value.file == "experiments/bad.yaml"
    assert err.value.line == line
    assert reason in err.value.reason


def test_shipped_experiments_load():
    for f in sorted(Path("experiments").glob("*.yaml")):
        assert load_experiment(f).cells()


def test_same_seed_same_table_and_resume(tiny: Path, tmp_path: Path, cache: Path):
    a = run(tiny, out=tmp_path / "a", cache=cache, workers=2)
    assert set(a["policy"]) == {"none", "gdpr-minimal", "edge-counts", "dp-heatmaps"}
    assert len(list((tmp_path / "a" / "cells").glob("*.json"))) == 8
    b = run(tiny, out=tmp_path / "b", cache=cache, workers=1)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["metric"]) <= METRIC_NAMES
    on_disk = pd.read_csv(tmp_path / "a" / "results.csv")
    assert len(on_disk) == len(a)
    # what a policy changes shows: no identities, no unicity
    uni = a[(a["metric"] == "unicity_all") & (a["points"] == 2) & a["h3_res"].isna()]
    uni = uni.set_index("policy")["value"]
    assert uni["edge-counts"] == 0.0
    assert uni["none"] > 0.0
    v = a[a["h3_res"].isna()].groupby(["metric", "policy"])["value"].first()
    assert v["linkage_accounts_linked", "none"] > 0.5  # accounts ride in the clear
    assert v["linkage_accounts_linked", "gdpr-minimal"] == 0.0  # pseudonyms only
    assert v["occupancy_applicable", "none"] == 1.0
    assert v["occupancy_applicable", "edge-counts"] == 0.0  # summed per block
    assert v["heatmap_rel_error", "none"] == 0.0
    assert v["heatmap_rel_error", "dp-heatmaps"] > 0.0  # noise and k = 5
    assert v["heating_total_error", "edge-counts"] < 1e-9  # the sums are kept
    # resume: a lost cell is computed again, the others are not touched
    cells = sorted((tmp_path / "a" / "cells").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in cells[1:]}
    cells[0].unlink()
    c = run(tiny, out=tmp_path / "a", cache=cache, workers=1)
    assert cells[0].exists()
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    pd.testing.assert_frame_equal(a, c)
    for name in ("frontier.png", "unicity.png", "frontier.html", "unicity.html"):
        assert (tmp_path / "a" / name).stat().st_size > 1000
    html = (tmp_path / "a" / "frontier.html").read_text()
    assert 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000  # embedded: offline
    # the Lab page's figures and tables, which the API serves, and the run's cell count
    fig = json.loads((tmp_path / "a" / "frontier.plotly.json").read_text())
    assert "none" in fig["data"][0]["customdata"]
    assert set(fig["data"][0]["customdata"]) <= set(a["policy"])
    rows = json.loads((tmp_path / "a" / "unicity.table.json").read_text())
    assert {r["policy"] for r in rows} <= set(a["policy"]) and rows
    assert json.loads((tmp_path / "a" / "plan.json").read_text()) == {"cells": 8}


def test_cli_runs_and_lists(tiny: Path, tmp_path: Path, cache: Path, monkeypatch):
    monkeypatch.setenv("AQKOL_LAB_CACHE", str(cache))
    res = CliRunner().invoke(app, ["lab", "run", str(tiny), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "edge-counts" in res.output and "results.csv" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: t\npolicies: [nope]\n")
    res = CliRunner().invoke(app, ["lab", "run", str(bad)])
    assert res.exit_code == 1 and "bad.yaml:3" in res.output
    res = CliRunner().invoke(app, ["lab", "list"])
    assert res.exit_code == 0 and "policy-frontier" in res.output


ONE_DAY = """\
id: one-day
title: Two policies on one tiny day
policies: [none, gdpr-minimal]
seeds: [3]
hours: 2
population_scale: 0.05
points: [1, 2]
metrics: [unicity, heatmap]
"""


def test_a_cache_at_an_fsspec_url_is_shared(tmp_path: Path, cache: Path, monkeypatch):
    """A day simulated by one machine into the cache's URL is copied, not simulated, by
    another (here: a fresh local mirror); file:// stands in for s3:// or gcs://."""
    exp = tmp_path / "one-day.yaml"
    exp.write_text(ONE_DAY)
    plain = run(exp, out=tmp_path / "plain", cache=cache, workers=1, plots=False)
    url = f"file://{tmp_path / 'shared'}"
    monkeypatch.setenv("AQKOL_LAB_MIRROR", str(tmp_path / "mirror-a"))
    a = run(exp, out=tmp_path / "a", cache=url, workers=1, plots=False)
    pd.testing.assert_frame_equal(a, plain)
    (shared,) = (tmp_path / "shared").iterdir()  # the day's folder, named by its digest
    assert sorted(p.name for p in shared.iterdir()) == ["events.pkl", "truth.sqlite"]
    stamp = (shared / "events.pkl").stat().st_mtime_ns
    # another machine: its own mirror, empty; the day comes from the URL
    monkeypatch.setenv("AQKOL_LAB_MIRROR", str(tmp_path / "mirror-b"))
    b = run(exp, out=tmp_path / "b", cache=url, workers=1, plots=False)
    pd.testing.assert_frame_equal(b, plain)
    assert (shared / "events.pkl").stat().st_mtime_ns == stamp  # not simulated again
    mirrored = list((tmp_path / "mirror-b").glob(f"*/{shared.name}/*"))
    assert sorted(p.name for p in mirrored) == ["events.pkl", "truth.sqlite"]
