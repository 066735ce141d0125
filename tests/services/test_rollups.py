"""Heatmap rollups give the answers the raw events give: for any window, on SQLite and
PostgreSQL, after redeliveries, block aggregates and retention, and through /heatmap with
the policy's release protection applied on top."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.events import topic_for
from services.ingest import Ingest
from services.policy.active import POLICIES_DIR, PolicyBook, activate
from services.policy.retention import sweep
from services.policy.spec import Retention
from services.store import repo
from services.store.db import migrate
from simulator.clock import AQKOL_TZ
from simulator.model import Town
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings

START = datetime(2026, 1, 15, 7, 10, tzinfo=AQKOL_TZ)
K3 = "id: k3\ntitle: k=3\ndescription: cells under 3 events suppressed\nrelease:\n  k_min: 3\n"


def _town(hours: float, seed: int = 5) -> list[tuple[str, bytes]]:
    """The seeded town's messages for ``hours`` (every kind, as the simulator publishes)."""
    return [
        (topic_for(e["kind"], e["source"]), orjson.dumps(e))
        for e in Town(seed=seed, start=START).events(hours)
    ]


def _store(settings, messages, batch=1000) -> Ingest:
    migrate(settings.effective_database_url)
    ingest = Ingest(settings)
    for i in range(0, len(messages), batch):
        ingest.process(messages[i : i + batch])
    return ingest


def _same(engine, kind, since, until) -> None:
    with engine.connect() as conn:
        raw = {c: (s, nv, n) for c, s, nv, n in repo.cell_values(conn, kind, since, until)}
        rolled = {c: (s, nv, n) for c, s, nv, n in repo.heat_cells(conn, kind, since, until)}
    assert set(rolled) == set(raw), (kind, since, until)
    for cell, (s, nv, n) in raw.items():
        rs, rnv, rn = rolled[cell]
        assert (rnv, rn) == (nv, n), (kind, since, until, cell)
        assert rs == pytest.approx(s, rel=1e-9, abs=1e-9)  # sums added in another order


def _windows(rng: random.Random, n: int, t0: datetime, hours: float):
    span = hours * 3600
    for _ in range(n):
        start = t0 + timedelta(seconds=rng.uniform(-600, span), microseconds=rng.randrange(10**6))
        yield start, start + timedelta(seconds=rng.choice([60, 299, 300, 900, 3600, 5400, 86400]))


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_rollup_answers_equal_the_raw_events_for_any_window(db, request, tmp_path):
    url = request.getfixturevalue(db)
    settings = make_settings(tmp_path, port=1, database_url=url, mqtt_prefix="")
    messages = _town(1.0)
    ingest = _store(settings, messages)
    _store(settings, messages[:3000:7], batch=300)  # redeliveries: stored and counted once
    rng = random.Random(7)
    t0 = START.astimezone(AQKOL_TZ)
    for kind in (None, "camera.crowd", "gas.reading", "vehicle.position", "env.reading"):
        for since, until in _windows(rng, 8, t0, 1.0):
            _same(ingest.engine, kind, since, until)
    _same(ingest.engine, None, t0 - timedelta(days=3), t0 + timedelta(days=4))  # a week


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_block_aggregates_and_retention_keep_the_rollup_equal(db, request, tmp_path):
    url = request.getfixturevalue(db)
    settings = make_settings(tmp_path, port=1, database_url=url, mqtt_prefix="")
    messages = _town(0.75, seed=6)
    migrate(url)
    ingest = Ingest(settings)
    with ingest.engine.begin() as conn:
        activate(conn, ingest.policies, "edge-counts", "test")
    for i in range(0, len(messages), 500):
        ingest.process(messages[i : i + 500])  # block sums updated in place, batch by batch
    t0 = START
    for since, until in _windows(random.Random(3), 10, t0, 1.0):
        _same(ingest.engine, None, since, until)
        _same(ingest.engine, "gas.reading", since, until)
    spec = PolicyBook(POLICIES_DIR).spec("none")
    spec = spec.model_copy(
        update={"retention": Retention(kinds={"camera.crowd": 1, "gas.reading": 1})}
    )
    with ingest.engine.begin() as conn:  # a cutoff inside every bucket length
        sweep(conn, spec, t0 + timedelta(days=1, minutes=37, seconds=13))
    for since, until in _windows(random.Random(4), 10, t0, 1.0):
        _same(ingest.engine, None, since, until)
        _same(ingest.engine, "camera.crowd", since, until)


def test_heatmap_endpoint_answers_as_from_raw_events_with_release_protection(
    tmp_path, sqlite_url, monkeypatch
):
    policies = tmp_path / "policies"
    policies.mkdir()
    for p in POLICIES_DIR.glob("*.yaml"):
        (policies / p.name).write_text(p.read_text())
    (policies / "k3.yaml").write_text(K3)
    settings = make_settings(
        tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", policies_dir=policies
    )
    _store(settings, _town(1.0, seed=8))
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    queries = [
        {"kind": "camera.crowd", "window_s": 3600},
        {"kind": "gas.reading", "agg": "sum", "window_s": 5400, "res": 9},
        {"kind": "vehicle.position", "window_s": 1800, "res": 8},
        {"agg": "avg", "window_s": 7200},
        {"window_s": 86400, "until": (START + timedelta(minutes=51, seconds=7)).isoformat()},
    ]
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "teacher")))
        for policy in ("none", "k3"):
            assert c.put("/policy/active", json={"policy": policy}).status_code == 200
            rolled = [c.get("/heatmap", params=q).json() for q in queries]
            with monkeypatch.context() as m:
                m.setattr(repo, "heat_cells", repo.cell_values)  # the raw query, as before
                raw = [c.get("/heatmap", params=q).json() for q in queries]
            for q, a, b in zip(queries, rolled, raw, strict=True):
                assert a["cells"], q
                assert [(x["cell"], x["n"]) for x in a["cells"]] == [
                    (x["cell"], x["n"]) for x in b["cells"]
                ], (policy, q)
                for x, y in zip(a["cells"], b["cells"], strict=True):
                    assert x["value"] == pytest.approx(y["value"], rel=1e-9, abs=1e-6)
                assert a["release"] == b["release"]
            if policy == "k3":
                assert all(x["n"] >= 3 for r in rolled for x in r["cells"])
