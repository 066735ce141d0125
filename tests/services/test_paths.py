"""Paths from clients and messages stay in their folder: a forged run id, a scenario path in a
control command (a lab result named by a client: tests/services/test_lab_api.py)."""

from __future__ import annotations

import json
import os
import stat
from types import SimpleNamespace

import pytest

from services.api.main import create_app
from services.api.routes import classroom
from services.paths import child
from simulator.publisher import Control
from tests.conftest import make_settings


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/etc", "", ".hidden", "a\\b", None, 7])
def test_only_plain_names_make_a_child(tmp_path, name):
    assert child(tmp_path, name) is None


def test_a_link_out_of_the_folder_is_no_child(tmp_path):
    (tmp_path / "runs").mkdir()
    os.symlink("/etc", tmp_path / "runs" / "escape")
    assert child(tmp_path / "runs", "escape") is None
    assert child(tmp_path / "runs", "seed1-2026") == tmp_path / "runs" / "seed1-2026"


def test_a_forged_run_id_in_the_simulators_state_reads_no_truth_outside_runs(tmp_path):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "truth.jsonl").write_text(json.dumps({"id": "x", "true_match": True}) + "\n")
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    app = create_app(make_settings(tmp_path, port=1, database_url=url))
    state = {"run_id": "../elsewhere"}  # published by whoever could write the state topic
    link = SimpleNamespace(current=lambda *_a: state)
    settings = app.state.settings
    assert classroom.run_dir(link, settings) is None and classroom.truth(link, settings) is None
    state["run_id"] = "seed1"
    assert classroom.run_dir(link, settings) == tmp_path / "runs" / "seed1"


@pytest.mark.parametrize("scenario", ["/etc/passwd", "../scenarios/protest.yaml", None, 3])
def test_an_inject_command_names_a_scenario_never_a_path(scenario):
    with pytest.raises(ValueError, match="no such scenario"):
        Control()._parse({"command": "inject", "scenario": scenario})
    name, sc = Control()._parse({"command": "inject", "scenario": "protest"})
    assert name == "inject" and sc.name == "protest"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_var_and_what_it_holds_are_the_owners_only_even_under_a_lax_umask(tmp_path):
    from services.auth import tokens
    from services.auth.users import DEMO_FILE, make_demo_accounts
    from services.policy.apply import load_secret
    from services.store.db import make_engine, migrate

    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        var = tmp_path / "var"
        url = f"sqlite:///{var / 'aqkol.db'}"
        migrate(url)  # the database (password hashes, the pseudonym escrow)
        settings = make_settings(tmp_path, port=1, database_url=url)
        tokens.secret(settings)
        load_secret(var)
        engine = make_engine(url)
        make_demo_accounts(engine, var)
        with engine.begin() as conn:  # a write: the -wal file exists
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        assert _mode(var) == 0o700
        for name in ("aqkol.db", "aqkol.db-wal", "secret.key", "pseudonym.key", DEMO_FILE):
            assert _mode(var / name) == 0o600, name
        engine.dispose()
    finally:
        os.umask(old)


def test_a_var_made_before_is_tightened(tmp_path):
    from services.events.keys import private_dir

    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "aqkol.db").write_bytes(b"")
    os.chmod(var / "aqkol.db", 0o644)
    private_dir(var)
    from services.store.db import make_engine

    make_engine(f"sqlite:///{var / 'aqkol.db'}").dispose()
    assert _mode(var) == 0o700 and _mode(var / "aqkol.db") == 0o600
