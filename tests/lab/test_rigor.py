"""Issue 14's findings, each as a test that failed on the lab before it was fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.lab import registry
from services.lab.attacks.trajectory import trajectory_attack
from services.lab.evaluate import Params, evaluate
from services.lab.experiment import parse_experiment
from services.policy.active import PolicyBook

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _row(rows: list[dict], metric: str, points: int | None = None) -> float:
    (v,) = [r["value"] for r in rows if r["metric"] == metric and r.get("points") == points]
    return v


def test_an_attack_is_one_module_and_one_registration(monkeypatch):
    """A measure registered elsewhere runs in evaluate() and is accepted by experiments."""
    registry.measures()  # every shipped module registered first, into the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register("nothing_kept", ("nothing_kept_share",))
    def measure(ctx):
        ctx.put("nothing_kept_share", 0.5)

    exp = parse_experiment("id: x\ntitle: t\npolicies: [none]\nmetrics: [nothing_kept]\n")
    assert exp.metrics == ["nothing_kept"]
    assert "nothing_kept_share" in registry.metric_names()
    assert list(registry.measures())[-1] == "nothing_kept"


def test_every_inference_attack_reports_its_baseline(tiny_day):
    rows = evaluate(
        tiny_day,
        PolicyBook().spec("none"),
        Params(trajectory_people=40),
        metrics=("trajectory", "home_work", "occupancy"),
        seed=3,
    )
    names = {r["metric"] for r in rows}
    for m in (
        "trajectory_accuracy",
        "homework_pair_inferred",
        "homework_workers_pair_inferred",
        "occupancy_accuracy",
    ):
        assert f"{m}_baseline" in names, m
    base = _row(rows, "occupancy_accuracy_baseline")
    assert 0.5 <= base <= 1.0 and base == pytest.approx(
        max(_row(rows, "occupancy_base_rate"), 1 - _row(rows, "occupancy_base_rate"))
    )


def test_trajectory_baseline_is_no_movement():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0]])
    # three people who never move: the baseline recovers everything, as does the attack
    still = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]])
    r = trajectory_attack(still, xy, lambda c: c)
    assert r["accuracy_baseline"] == 1.0 and r["accuracy"] == 1.0
    # one of three moves for half the day: no movement is right on 10 of 12 person-steps
    moves = np.array([[0, 0, 2, 2], [1, 1, 1, 1], [2, 2, 2, 2]])
    r = trajectory_attack(moves, xy, lambda c: c)
    assert r["accuracy_baseline"] == pytest.approx(10 / 12)


def _week_of_routines(day) -> pd.DataFrame:
    """Seven days in which each of the first residents passes one face camera at one hour
    (a point no one else has that day), five times in that hour."""
    cams = day.cameras.loc[day.cameras["face"].astype(bool), "id"].tolist()
    people = day.residents["id"].tolist()[: len(cams) * 12]
    t0 = (day.t0_ms // DAY_MS) * DAY_MS - 6 * HOUR_MS  # a town midnight
    rows = []
    for d in range(7):
        for i, p in enumerate(people):
            hour = 6 + i // len(cams)
            for k in range(5):
                rows.append((cams[i % len(cams)], p, t0 + d * DAY_MS + hour * HOUR_MS + k * 60_000))
    return pd.DataFrame(rows, columns=["camera", "resident", "ts_ms"])


def test_unicity_all_is_a_share_of_residents_under_a_daily_salt(tiny_day):
    """A week under a daily salt: every person-day is unique, but a resident counts once."""
    week = _week_of_routines(tiny_day)
    spec = PolicyBook().spec("gdpr-minimal")
    keep_week = spec.model_copy(
        update={"retention": spec.retention.model_copy(update={"kinds": {}})}
    )
    rows = evaluate(
        tiny_day, keep_week, Params(points=(1,)), metrics=("unicity",), seed=3, sightings=week
    )
    traced = week["resident"].nunique() / len(tiny_day.residents)
    assert _row(rows, "unicity", 1) == 1.0
    assert _row(rows, "unicity_all", 1) <= 1.0
    assert _row(rows, "unicity_all", 1) == pytest.approx(traced, abs=0.02)


def test_the_analyst_holds_no_more_days_than_the_policy_keeps(tiny_day):
    week = _week_of_routines(tiny_day)
    for pid, most in (("gdpr-minimal", 1.0), ("none", 7.0)):  # face matches: 1 day, kept
        rows = evaluate(
            tiny_day,
            PolicyBook().spec(pid),
            Params(points=(1,)),
            metrics=("unicity",),
            seed=3,
            sightings=week,
        )
        held = _row(rows, "analyst_days")
        assert held <= most
        assert held > most - 1  # and all it may keep


def test_daily_pseudonyms_are_relinked_by_routine(tiny_day):
    """Regular routines under a daily salt: the days link up again (the salt is no unlink),
    far above a guess; with the week deleted daily there is nothing left to link."""
    week = _week_of_routines(tiny_day)
    spec = PolicyBook().spec("gdpr-minimal")
    keep_week = spec.model_copy(
        update={"retention": spec.retention.model_copy(update={"kinds": {}})}
    )
    rows = evaluate(tiny_day, keep_week, Params(), metrics=("relink",), seed=3, sightings=week)
    assert _row(rows, "relink_linked") > 0.95
    assert _row(rows, "relink_week_linked") > 0.8
    assert _row(rows, "relink_linked_baseline") < 0.05
    shipped = evaluate(tiny_day, spec, Params(), metrics=("relink",), seed=3, sightings=week)
    assert _row(shipped, "relink_links") < _row(rows, "relink_links") / 5


def test_summary_gives_a_95_interval_over_seeds():
    from scipy import stats

    from services.lab.runner import COLUMNS, summarize

    vals = [0.2, 0.4, 0.6]
    df = pd.DataFrame(
        [
            {c: None for c in COLUMNS}
            | {"policy": "none", "metric": "unicity", "points": 4, "seed": s, "value": v}
            for s, v in enumerate(vals)
        ]
        + [{c: None for c in COLUMNS} | {"policy": "x", "metric": "m", "seed": 1, "value": 1.0}]
    )
    s = summarize(df)
    assert list(s.columns[:7]) == ["policy", "metric", "points", "mean", "ci_low", "ci_high", "n"]
    row = s[s["policy"] == "none"].iloc[0]
    half = stats.t.ppf(0.975, 2) * np.std(vals, ddof=1) / np.sqrt(3)
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.4)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.4 - half, 0.4 + half))
    one = s[s["policy"] == "x"].iloc[0]
    assert one["n"] == 1 and np.isnan(one["ci_low"])  # one seed: no interval


ONE = """\
id: one
title: One policy, unicity only
policies: [none]
seeds: [3]
hours: 2
population_scale: 0.05
points: [1]
metrics: [unicity]
"""


def test_an_edited_policy_recomputes_its_cells_and_fresh_reruns(tmp_path, cache):
    import shutil

    from services.lab.runner import run

    pol = tmp_path / "policies"
    shutil.copytree("policies", pol)
    exp = tmp_path / "one.yaml"
    exp.write_text(ONE)
    out = tmp_path / "out"
    a = run(exp, out=out, cache=cache, workers=1, policies=pol, plots=False)
    assert (out / "summary.csv").exists()
    before = a.set_index("metric")["value"]
    assert before["unicity_all"] > 0
    # the same policy under its old name, now keeping no face matches
    drop_faces = "transforms:\n  - select: {kinds: [camera.face_match]}\n    action: drop\n"
    (pol / "none.yaml").write_text((pol / "none.yaml").read_text() + drop_faces)
    b = run(exp, out=out, cache=cache, workers=1, policies=pol, plots=False)
    assert len(list((out / "cells").glob("*.json"))) == 2  # a new cell, the old one kept
    assert b.set_index("metric")["value"]["unicity_all"] == 0.0
    # unchanged: reused; --fresh: computed again
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    run(exp, out=out, cache=cache, workers=1, policies=pol, plots=False)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    run(exp, out=out, cache=cache, workers=1, policies=pol, plots=False, fresh=True)
    assert any(p.stat().st_mtime_ns != t for p, t in stamps.items())


def test_an_edited_scenario_or_experiment_changes_the_ids(tmp_path):
    from services.lab.data import DayKey
    from services.lab.experiment import load_experiment
    from services.lab.runner import cell_id

    src = Path("scenarios/normal-winter-day.yaml")
    sc = tmp_path / "day.yaml"
    sc.write_text(src.read_text())
    before = DayKey(seed=1, scenario=str(sc)).digest()
    sc.write_text(src.read_text().replace("description: A", "description: An edited", 1))
    assert DayKey(seed=1, scenario=str(sc)).digest() != before
    exp = tmp_path / "one.yaml"
    exp.write_text(ONE)
    e1 = load_experiment(exp)
    exp.write_text(ONE.replace("hours: 2", "hours: 3"))
    e2 = load_experiment(exp)
    (c1,), (c2,) = e1.cells(), e2.cells()
    assert c1 == c2 and cell_id(c1, e1) != cell_id(c2, e2)


def test_a_schedule_over_the_daily_budget_is_refused_with_the_reason(tiny_day):
    from services.lab.evaluate import BudgetExceeded
    from services.lab.experiment import ExperimentError

    text = "id: x\ntitle: t\npolicies: [none, dp-heatmaps]\nmetrics: [trajectory]\n"
    with pytest.raises(ExperimentError) as err:  # 24 hourly releases at 0.5 spend 12 of 5
        parse_experiment(text + "release_hours: 1\n")
    assert "dp-heatmaps" in err.value.reason and "daily budget of 5" in err.value.reason
    assert "12" in err.value.reason
    assert parse_experiment(text + "release_hours: 3\n").release_hours == 3  # 8 x 0.5 = 4
    with pytest.raises(ExperimentError, match="budget"):  # a swept epsilon counts too
        parse_experiment(text + "release_hours: 3\ngrid:\n  epsilon: [0.5, 1.0]\n")
    spec = PolicyBook().spec("dp-heatmaps")
    with pytest.raises(BudgetExceeded):
        evaluate(tiny_day, spec, Params(release_hours=1), metrics=("heatmap",), seed=3)


def test_trajectory_attack_runs_on_the_released_people_layer(tiny_day):
    """Everyone the kept face captures name, one layer per release window, the noise at the
    layer's sensitivity for the policy's unit, and the cost measured on that layer."""
    spec = PolicyBook().spec("dp-heatmaps")
    hourly = Params(release_hours=1, epsilon=0.2)  # 24 x 0.2 = 4.8: within the budget of 5
    rows = evaluate(tiny_day, spec, hourly, metrics=("trajectory",), seed=3)
    captured = tiny_day.sightings["resident"].nunique()
    assert 0 < _row(rows, "trajectory_people") <= captured
    assert _row(rows, "trajectory_releases") == 2  # two hours in hourly releases
    assert _row(rows, "trajectory_dp_sensitivity") == 2  # event-level: a match moves a person
    assert _row(rows, "trajectory_layer_rel_error") > 0  # noise and k = 5 on that layer
    person = spec.model_copy(
        update={
            "release": spec.release.model_copy(
                update={"dp": spec.release.dp.model_copy(update={"unit": "person"})}
            )
        }
    )
    pe = evaluate(tiny_day, person, hourly, metrics=("trajectory",), seed=3)
    assert _row(pe, "trajectory_dp_sensitivity") == 1
    assert _row(pe, "trajectory_layer_rel_error") < _row(rows, "trajectory_layer_rel_error")
    clear = evaluate(
        tiny_day, PolicyBook().spec("none"), Params(release_hours=1), metrics=("trajectory",)
    )
    assert _row(clear, "trajectory_layer_rel_error") == 0.0
    assert _row(clear, "trajectory_dp_sensitivity") is None


def test_recovery_shortcuts_give_the_full_assignments_answer():
    """Keeping the stayers in place and pairing identical trajectories first changes no
    score: checked against the plain Hungarian algorithm on every person."""
    from scipy.optimize import linear_sum_assignment

    from services.lab.attacks.trajectory import accuracy, counts_of, recover

    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 1000, (12, 2))
    true = rng.integers(0, 12, (60, 6))
    true[:30] = true[:30, :1]  # half stay in place all day
    counts = counts_of(true, 12)

    def plain(counts):
        cur = np.repeat(np.arange(12), counts[0])
        out = [cur]
        for t in range(1, len(counts)):
            pts = np.repeat(np.arange(12), counts[t])
            cost = np.linalg.norm(xy[cur][:, None] - xy[pts][None], axis=2)
            r, c = linear_sum_assignment(cost)
            cur = cur.copy()
            cur[r] = pts[c]
            out.append(cur)
        return np.stack(out, axis=1)

    def moved(traj):
        return sum(
            np.linalg.norm(xy[traj[:, t]] - xy[traj[:, t - 1]], axis=1).sum() for t in range(1, 6)
        )

    fast, slow = recover(counts, xy), plain(counts)
    assert moved(fast) == pytest.approx(moved(slow))
    overlap = (true[:, None, :] == fast[None, :, :]).sum(axis=2)
    r, c = linear_sum_assignment(-overlap)
    assert accuracy(true, fast)["accuracy"] == pytest.approx(overlap[r, c].sum() / true.size)


def test_person_level_dp_is_calibrated_to_the_layers_sensitivity(tiny_day):
    spec = PolicyBook().spec("dp-heatmaps")
    person = spec.model_copy(
        update={
            "release": spec.release.model_copy(
                update={"dp": spec.release.dp.model_copy(update={"unit": "person"})}
            )
        }
    )
    ev = evaluate(tiny_day, spec, Params(), metrics=("heatmap",), seed=3)
    pe = evaluate(tiny_day, person, Params(), metrics=("heatmap",), seed=3)
    assert _row(ev, "heatmap_dp_sensitivity") == 1.0
    assert _row(pe, "heatmap_dp_sensitivity") > 1.0  # a person passes several cameras
    assert _row(pe, "heatmap_rel_error") > _row(ev, "heatmap_rel_error")


def test_shipped_experiments_sweep_the_attackers_resolution_over_five_seeds(tiny_day):
    from services.lab.experiment import load_experiment

    for name in ("policy-frontier", "unicity-montjoye", "attacker-resolution", "relink-week"):
        assert len(load_experiment(name).seeds) >= 5, name
    assert {1, 5, 15, 60} <= set(load_experiment("attacker-resolution").grid.time_bucket_min)
    assert {1, 60} <= set(load_experiment("policy-frontier").grid.time_bucket_min)
    # the stored precision, capped by what the policy keeps (gdpr-minimal: 15 minutes)
    for pid, want in (("none", 1), ("gdpr-minimal", 15)):
        rows = evaluate(
            tiny_day,
            PolicyBook().spec(pid),
            Params(points=(1,), time_bucket_min=1),
            metrics=("unicity",),
            seed=3,
        )
        assert _row(rows, "attacker_bucket_min") == want


def test_plots_show_intervals_distinct_styles_and_the_papers_points():
    from services.lab.plots import (
        PAPER_LABEL,
        frontier_figure,
        frontier_table,
        unicity_figure,
        unicity_table,
    )
    from services.lab.runner import COLUMNS

    rows = []
    for policy in ("none", "gdpr-minimal", "eu-ai-act"):  # three with the same values
        for seed in range(5):
            base = {c: None for c in COLUMNS} | {"policy": policy, "seed": seed}
            for p in (1, 2, 4):
                v = 0.1 * p + 0.01 * seed
                rows.append(base | {"metric": "unicity_all", "points": p, "value": v})
                rows.append(base | {"metric": "unicity", "points": p, "value": 1.0})
                rows.append(base | {"metric": "traced_units", "points": p, "value": 40.0})
            rows.append(base | {"metric": "heatmap_rel_error", "value": 0.1 + 0.01 * seed})
    df = pd.DataFrame(rows)
    ut = unicity_table(df, "unicity_all")
    assert (ut["n"] == 5).all() and (ut["lo"] < ut["value"]).all() and (ut["people"] == 40).all()
    fig = unicity_figure(ut, metric="unicity_all")
    lines = [t for t in fig.data if t.name != PAPER_LABEL]
    assert len({(t.marker.color, t.marker.symbol) for t in lines}) == 3  # no two alike
    assert all(t.error_y.array is not None for t in lines)
    assert fig.layout.yaxis.title.text == "share of all residents singled out"
    assert PAPER_LABEL not in {t.name for t in fig.data}  # the paper's are shares of the traced
    traced = unicity_figure(unicity_table(df, "unicity"), metric="unicity")
    (paper,) = [t for t in traced.data if t.name == PAPER_LABEL]
    assert list(paper.x) == [2, 4] and list(paper.y) == [0.5, 0.95]
    ft = frontier_table(df, "unicity_all", 4, "heatmap_rel_error")
    fr = frontier_figure(ft, "unicity_all", "heatmap_rel_error").data[0]
    assert len(set(zip(fr.marker.color, fr.marker.symbol, strict=True))) == 3
    assert fr.error_y.array is not None and fr.error_x.array is not None


def test_the_labs_code_version_is_in_every_id(tmp_path, monkeypatch):
    """A change to the lab's code gives every cell a new id; a plot's does not."""
    from services.lab import data, runner
    from services.lab.experiment import load_experiment

    exp = tmp_path / "one.yaml"
    exp.write_text(ONE)
    e = load_experiment(exp)
    (cell,) = e.cells()
    before = runner.cell_id(cell, e)
    assert "services/lab/plots.py" in data.PRESENTATION
    assert "services/lab/evaluate.py" not in data.PRESENTATION
    monkeypatch.setattr(runner, "code_version", lambda parts=data.LAB_CODE: "edited")
    assert runner.cell_id(cell, e) != before
    # the digest reads the files: a presentation file adds nothing, a measure's does
    data.code_version.cache_clear()
    assert data.code_version(("services/lab/plots.py",)) == data.code_version(())
    assert data.code_version(("services/lab/evaluate.py",)) != data.code_version(())


def test_editing_an_experiments_prose_recomputes_nothing(tmp_path):
    from services.lab.experiment import load_experiment
    from services.lab.runner import cell_id

    exp = tmp_path / "one.yaml"
    exp.write_text(ONE)
    a = load_experiment(exp)
    exp.write_text(ONE.replace("title: One policy", "title: One policy, retitled"))
    b = load_experiment(exp)
    assert cell_id(a.cells()[0], a) == cell_id(b.cells()[0], b)
