"""Paths from clients and messages stay in their folder: a forged run id, a scenario path in a
control command, a lab result named by a dashboard callback."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from dashboard import lab_views as lv
from services.api.main import create_app
from services.api.routes import classroom
from services.paths import child, under
from simulator.publisher import Control
from tests.conftest import make_settings
from tests.dashboard.test_lab_views import write_result


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/etc", "", ".hidden", "a\\b", None, 7])
def test_only_plain_names_make_a_child(tmp_path, name):
    assert child(tmp_path, name) is None


def test_a_link_out_of_the_folder_is_no_child(tmp_path):
    (tmp_path / "runs").mkdir()
    os.symlink("/etc", tmp_path / "runs" / "escape")
    assert child(tmp_path / "runs", "escape") is None
    assert child(tmp_path / "runs", "seed1-2026") == tmp_path / "runs" / "seed1-2026"
    assert under(tmp_path / "runs", "/etc") is None
    assert under(tmp_path / "runs", tmp_path / "runs" / "escape" / "passwd") is None


def test_a_forged_run_id_in_the_simulators_state_reads_no_truth_outside_runs(tmp_path):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "truth.jsonl").write_text(json.dumps({"id": "x", "true_match": True}) + "\n")
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    app = create_app(make_settings(tmp_path, port=1, database_url=url))
    state = {"run_id": "../elsewhere"}  # published by whoever could write the state topic
    app.state.classroom_link = SimpleNamespace(current=lambda *_a: state)
    request = SimpleNamespace(app=app)
    assert classroom.run_dir(request) is None and classroom.truth(request) is None
    state["run_id"] = "seed1"
    assert classroom.run_dir(request) == tmp_path / "runs" / "seed1"


@pytest.mark.parametrize("scenario", ["/etc/passwd", "../scenarios/protest.yaml", None, 3])
def test_an_inject_command_names_a_scenario_never_a_path(scenario):
    with pytest.raises(ValueError, match="no such scenario"):
        Control(60.0)._parse({"command": "inject", "scenario": scenario})
    name, sc = Control(60.0)._parse({"command": "inject", "scenario": "protest"})
    assert name == "inject" and sc.name == "protest"


def test_the_lab_callback_reads_only_the_labs_results(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    inside = write_result(lab)
    outside = write_result(tmp_path / "elsewhere")  # a results.csv the client points at
    monkeypatch.setenv("AQKOL_LAB_RESULTS", str(lab))
    assert lv.result_folder(str(inside)) == inside
    for named in (str(outside), str(lab / ".." / "elsewhere" / "demo"), "/etc", None):
        assert lv.result_folder(named) is None
