"""The lab's results through the API: listed and drawn for every role, named only by id,
and the quick experiment started by the teacher alone, as a process of its own."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest
from fastapi.testclient import TestClient

from services.api import labruns
from services.api.main import create_app
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.dashboard.test_lab_views import write_result
from tests.support import wait_until

# the lab's stand-in: counts two cells, finishes one, and the second and the result once
# the test says so (a real quick run is the browser test's: about a minute)
STAND_IN = """
import pathlib, sys, time
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
(out / "cells").mkdir(parents=True, exist_ok=True)
(out / "plan.json").write_text('{"cells": 2}')
(out / "cells" / "a.json").write_text("{}")
end = time.monotonic() + 60
while not (out / "go").exists() and time.monotonic() < end:
    time.sleep(0.05)
(out / "cells" / "b.json").write_text("{}")
(out / "results.csv").write_text("metric,value\\n")
"""


@pytest.fixture
def lab(tmp_path, sqlite_url):
    migrate(sqlite_url)
    app = create_app(make_settings(tmp_path, port=1, database_url=sqlite_url))
    add_accounts(app.state.engine, ("teacher", "student"))
    client = TestClient(app)
    tokens = {r: bearer(token_for(client, r)) for r in ("teacher", "student")}
    return client, tokens, tmp_path / "lab"


def test_every_role_lists_and_draws_a_result_and_its_tables(lab):
    client, tokens, root = lab
    write_result(root)
    (root / "unfinished").mkdir()  # no results.csv: not listed
    listed = client.get("/lab/runs", headers=tokens["student"]).json()["items"]
    assert [(r["id"], r["title"]) for r in listed] == [("demo", "Two policies")]
    got = client.get("/lab/runs/demo", headers=tokens["student"])
    assert got.status_code == 200
    body = got.json()
    assert body["experiment"]["frontier"]["privacy"] == "unicity_all"
    assert body["figures"]["frontier"]["data"][0]["customdata"] == ["edge-counts", "none"]
    rows = client.get("/lab/runs/demo/tables/frontier", headers=tokens["student"]).json()["rows"]
    assert [r["policy"] for r in rows] == ["edge-counts", "none"]
    assert client.get("/lab/runs/demo/tables/passwd", headers=tokens["student"]).status_code == 422
    assert client.get("/lab/runs").status_code == 401  # a login, like the Lab page


def test_a_result_is_named_by_its_id_never_by_a_path(lab, tmp_path):
    client, tokens, root = lab
    write_result(root)
    outside = write_result(tmp_path / "elsewhere")  # a result the client points at
    os.symlink(outside, root / "linked")
    for named in ("..%2Felsewhere%2Fdemo", "linked", "%2Fetc", "..", "nothing"):
        r = client.get(f"/lab/runs/{named}", headers=tokens["teacher"])
        assert r.status_code == 404, named
    for name in ("frontier.plotly.json", "frontier.table.json"):  # a result the lab did not
        (root / "demo" / name).unlink()  # draw for the page says how to draw it
    r = client.get("/lab/runs/demo", headers=tokens["teacher"])
    assert r.status_code == 404 and "aqkol lab run" in r.json()["detail"]


def test_the_teacher_starts_the_quick_experiment_once_and_everyone_follows_it(lab, monkeypatch):
    client, tokens, root = lab
    monkeypatch.setattr(labruns, "LAB_COMMAND", [sys.executable, "-c", STAND_IN])
    body = {"experiment": "quick-look"}
    assert client.post("/lab/jobs", json=body, headers=tokens["student"]).status_code == 403
    assert client.post("/lab/jobs", json={"experiment": "policy-frontier"},
                       headers=tokens["teacher"]).status_code == 422  # fmt: skip
    first = client.post("/lab/jobs", json=body, headers=tokens["teacher"])
    assert first.status_code == 202 and first.json()["started"] is True
    pid = json.loads((root / ".quick-look.running").read_text())["pid"]
    try:

        def status() -> dict:
            return client.get("/lab/jobs/quick-look", headers=tokens["student"]).json()

        wait_until(lambda: status()["cells"] == 2 and status()["done"] == 1, 30, "one cell")
        assert status()["running"] and not status()["finished"]
        again = client.post("/lab/jobs", json=body, headers=tokens["teacher"]).json()
        assert again["started"] is False and again["running"]  # once at a time
        (root / "quick-look" / "go").touch()
        wait_until(lambda: not status()["running"], 30, "the run to end")
        assert status() == {"experiment": "quick-look", "running": False, "done": 2,
                            "cells": 2, "finished": True, "started": False}  # fmt: skip
        assert client.get("/lab/jobs/policy-frontier", headers=tokens["teacher"]).status_code == 404
    finally:
        (root / "quick-look" / "go").touch()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def test_a_start_already_claimed_starts_nothing_and_a_failed_start_claims_nothing(
    tmp_path, monkeypatch
):
    """Two teachers at once on two API workers: the second finds the first's claim (written
    before its process exists) and starts nothing; a start that fails leaves no claim."""
    monkeypatch.setattr(labruns, "LAB_COMMAND", [sys.executable, "-c", "pass"])
    root = tmp_path / "lab"
    root.mkdir()
    (root / ".quick-look.running").touch()  # the other worker's claim, its pid not yet in
    assert labruns.start_quick(root) is None
    assert not (root / "quick-look.log").exists()  # nothing was started
    (root / ".quick-look.running").unlink()
    monkeypatch.setattr(labruns, "LAB_COMMAND", [str(tmp_path / "no-such-program")])
    with pytest.raises(FileNotFoundError):
        labruns.start_quick(root)
    assert not (root / ".quick-look.running").exists()
