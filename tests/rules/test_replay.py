"""`aqkol rules test`: a simulated day replayed through rules, scored against the truth."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from services.lab.rulebench import replay_scenario
from services.rules.book import RuleBook
from tests.rules.conftest import STARTER


@pytest.fixture(scope="module")
def starter_rules():
    return {r.id: r for r in RuleBook(STARTER).rules}


@pytest.fixture(scope="module")
def protest(starter_rules):
    rules = [starter_rules["large-group"], starter_rules["watchlist-activist"]]
    return replay_scenario(rules, "protest", seed=1, hours=9)


def test_large_group_detects_the_protest_and_counts_its_false_alarms(protest):
    s = protest.reports["large-group"].summary()
    assert s["incidents"] == 1 and s["detected"] == 1 and s["recall"] == 1.0
    assert 0 < s["median_minutes_to_detect"] < 120  # the crowd grows for two hours
    assert s["false_alerts"] >= 1  # the market and the school gates: crowds that are no threat
    judged = protest.reports["large-group"].alerts
    assert any(j.true and j.incident == "incident-1" for j in judged)


def test_the_activist_list_hits_innocent_people_and_says_who(protest):
    rep = protest.reports["watchlist-activist"]
    s = rep.summary()
    assert s["misuse"] is True
    assert s["true_alerts"] >= 1  # listed activists do attend
    assert s["innocent_people_matched"] >= 5 and s["false_face_matches"] >= 5
    women = sum(n for (sex, _age), n in rep.false_matches.items() if sex == "F")
    men = sum(n for (sex, _age), n in rep.false_matches.items() if sex == "M")
    assert women + men == s["false_face_matches"] and women > 0 and men > 0


def test_same_seed_same_scores(starter_rules, protest):
    again = replay_scenario(
        [starter_rules["large-group"], starter_rules["watchlist-activist"]],
        "protest",
        seed=1,
        hours=9,
    )
    assert [r.summary() for r in again.reports.values()] == [
        r.summary() for r in protest.reports.values()
    ]


def test_missing_child_is_found_by_the_missing_list_rule(starter_rules):
    res = replay_scenario([starter_rules["watchlist-missing"]], "missing-child", seed=1)
    rep = res.reports["watchlist-missing"]
    s = rep.summary()
    assert (s["recall"], s["precision"]) == (1.0, 1.0)
    (minutes,) = rep.time_to_detect().values()
    assert 0 < minutes < 60


def test_a_pseudonymizing_policy_still_finds_the_missing_child(starter_rules):
    """Under gdpr-minimal the alert names the watch-list entry by its pseudonym; the replay
    writes the incident in the same pseudonym, so finding the child counts as found."""
    from services.policy.active import PolicyBook
    from services.policy.apply import Minimizer

    m = Minimizer(PolicyBook().spec("gdpr-minimal"), b"test-key")
    assert m.pseudonymized("camera.face_match", "data.enrollment_id")
    res = replay_scenario([starter_rules["watchlist-missing"]], "missing-child", seed=1, policy=m)
    rep = res.reports["watchlist-missing"]
    assert rep.alerts and all(a.alert["dedup_key"].startswith("ps-") for a in rep.alerts)
    assert rep.summary()["recall"] == 1.0


def _aqkol(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin", "AQKOL_RUNS_DIR": str(cwd / "runs")},
    )


def test_cli_rules_test_writes_csv_and_a_timeline(tmp_path):
    out = tmp_path / "out"
    r = _aqkol(
        "rules", "test", "watchlist-missing", "--scenario", "missing-child", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "watchlist-missing" in r.stdout and "1.00" in r.stdout
    with (out / "summary.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["rule"] == "watchlist-missing" and row["recall"] == "1.0"
    assert (out / "alerts.csv").read_text().count("\n") == 2
    assert "plotly" in (out / "timeline.html").read_text()[:5_000_000].lower()


def test_cli_rules_check_names_file_and_line(tmp_path):
    good = (STARTER / "weapon-detected.yaml").read_text()
    (tmp_path / "ok.yaml").write_text(good)
    (tmp_path / "bad.yaml").write_text(good.replace("severity: critical", "severity: dire"))
    r = _aqkol("rules", "check", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 1
    line = next(i for i, t in enumerate(good.splitlines(), 1) if t.startswith("severity"))
    assert f"bad.yaml:{line}: severity" in r.stderr
    assert "1 ok, 1 refused" in r.stderr
    assert _aqkol("rules", "check", str(tmp_path / "ok.yaml"), cwd=tmp_path).returncode == 0
