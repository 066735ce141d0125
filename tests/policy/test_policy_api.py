"""Policies through the API: list, switch with history, and protected heatmap releases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.events.geo import to_latlon
from services.ingest import Ingest
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message


@pytest.fixture
def client(tmp_path, sqlite_url):
    settings = make_settings(tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="")
    migrate(sqlite_url)
    ing = Ingest(settings)
    evs = []
    data = {"count": 5, "window_s": 60}
    for h in range(12):  # 12 hours; each hour 30 counts in one cell and 2 in another
        for i in range(32):
            cam, xy = ("cam-001", (0, 0)) if i < 30 else ("cam-002", (1500, 900))
            ts = T0 + timedelta(hours=h, minutes=i)
            evs.append(make_event("camera.crowd", cam, ts, data, geo=to_latlon(*xy)))
    ing.process([message(e) for e in evs])
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "teacher")))
        yield c


def test_policies_are_listed_with_what_they_do(client):
    r = client.get("/policy").json()
    assert r["active"] == "none"
    items = {p["id"]: p for p in r["items"]}
    assert {"none", "gdpr-minimal", "edge-counts", "eu-ai-act", "dp-heatmaps"} <= set(items)
    assert items["none"]["active"] is True and items["none"]["plan"] == {}
    assert items["gdpr-minimal"]["plan"]["payment.gas"].startswith("dropped")
    assert items["eu-ai-act"]["biometric"]["watchlists"] == ["missing", "wanted"]


def test_switching_is_recorded_and_an_unknown_policy_refused(client):
    r = client.put("/policy/active", json={"policy": "gdpr-minimal", "by": "ms-akhmetova"})
    assert r.status_code == 200 and r.json()["policy"] == "gdpr-minimal"
    assert r.json()["sim_time"] is not None  # when in the town's time it took effect
    assert r.json()["activated_by"] == "teacher"  # who is logged in, not what the body says
    assert client.get("/policy").json()["active"] == "gdpr-minimal"
    bad = client.put("/policy/active", json={"policy": "surveil-all"})
    assert bad.status_code == 422 and "no usable policy" in bad.json()["detail"]
    assert [h["policy"] for h in client.get("/policy/history").json()] == ["gdpr-minimal"]


def _heat(client, hour, **kw):
    until = (T0 + timedelta(hours=hour + 1)).isoformat()
    return client.get("/heatmap", params={"kind": "camera.crowd", "until": until, **kw})


def test_dp_heatmaps_release_noisy_counts_from_a_daily_budget(client):
    exact = _heat(client, 0).json()
    assert {c["n"] for c in exact["cells"]} == {30, 2} and exact["release"] is None
    client.put("/policy/active", json={"policy": "dp-heatmaps"})
    assert _heat(client, 0, agg="sum").status_code == 422  # counts only
    busy = next(c["cell"] for c in exact["cells"] if c["n"] == 30)
    first = _heat(client, 0).json()
    assert first["release"]["dp"]["spent"] == 0.5 and first["release"]["k_min"] == 5
    released = {c["cell"]: c["n"] for c in first["cells"]}
    assert abs(released[busy] - 30) < 30  # noisy, but near (|noise| >= 30: p = 3e-7)
    assert all(n >= 5 for n in released.values())  # k applies to the noisy counts
    # every cell of the town's grid got noise, and most empty ones fell under k: about 5%
    # of some 720 empty cells pass (noise >= 5 at scale 2: about 36), never hundreds
    assert 1 <= len(released) < 200
    again = _heat(client, 0).json()  # a released bucket is served again, at no cost
    assert again["cells"] == first["cells"] and again["release"]["dp"]["spent"] == 0.5
    for hour in range(1, 10):
        assert _heat(client, hour).status_code == 200
    b = client.get("/policy/budget").json()
    assert (b["spent"], b["left"], b["daily_budget"]) == (5.0, 0.0, 5.0)
    refused = _heat(client, 10)
    assert refused.status_code == 429 and "budget" in refused.json()["detail"]
    assert _heat(client, 3).status_code == 200  # still available: already released


def test_noise_is_calibrated_to_epsilon():
    from services.policy.release import _measurement

    meas = _measurement(0.5)
    assert meas.map(1) == pytest.approx(0.5)
    draws = meas([100] * 4000)
    mean_abs = sum(abs(d - 100) for d in draws) / len(draws)
    assert 1.5 < mean_abs < 2.5  # Laplace scale 2 = 1 / epsilon: mean absolute noise 2


def test_a_lane_api_reports_its_pinned_policy_and_refuses_switching(tmp_path):
    from services.auth.users import copy_accounts
    from services.store.db import make_engine

    main_url, lane_url = (f"sqlite:///{tmp_path / n}" for n in ("main.db", "lane.db"))
    for url in (main_url, lane_url):
        migrate(url)
    main, lane = make_engine(main_url), make_engine(lane_url)
    add_accounts(main, ("teacher",))
    assert copy_accounts(main, lane) == 1  # the same people, the same passwords
    settings = make_settings(tmp_path, port=1, database_url=lane_url, policy="edge-counts",
                             policy_pinned=True)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        c.headers.update(bearer(token_for(c, "teacher")))
        assert c.get("/policy").json()["active"] == "edge-counts"
        r = c.put("/policy/active", json={"policy": "none"})
        assert r.status_code == 409 and "pinned to edge-counts" in r.json()["detail"]
    main.dispose()
    lane.dispose()


def test_spreading_until_over_other_days_draws_on_the_budget_of_the_day_of_release(client):
    """The exploit: one release per window end in 20 past days (old code charged each to the
    day it covers, so 20 x 10 releases were granted); now all are paid from today's budget."""
    client.put("/policy/active", json={"policy": "dp-heatmaps"})
    granted = 0
    for days_back in range(1, 21):
        until = (T0 - timedelta(days=days_back)).isoformat()
        r = client.get("/heatmap", params={"kind": "camera.crowd", "until": until})
        granted += r.status_code == 200
        if r.status_code != 200:
            assert r.status_code == 429 and "budget" in r.json()["detail"]
    assert granted == 10  # a daily budget of 5 at epsilon 0.5
    b = client.get("/policy/budget").json()
    assert (b["spent"], b["left"], b["unit"]) == (5.0, 0.0, "event")
    assert b["day"] == (T0 + timedelta(hours=11)).date().isoformat()  # the town's today


def test_a_window_ending_after_the_towns_now_is_refused(client):
    client.put("/policy/active", json={"policy": "dp-heatmaps"})
    r = _heat(client, 30)  # a day and more after the newest event
    assert r.status_code == 422 and "after the town's now" in r.json()["detail"]
    assert client.get("/policy/budget").json()["spent"] == 0.0  # nothing was charged


def test_the_budget_spent_survives_a_reset_of_the_town(client):
    from services.classroom.reset import wipe_run_data

    client.put("/policy/active", json={"policy": "dp-heatmaps"})
    first = _heat(client, 0).json()
    assert first["release"]["dp"]["spent"] == 0.5 and first["release"]["dp"]["unit"] == "event"
    engine = client.app.state.engine
    with engine.connect() as conn:
        from services.policy.release import spent

        day = first["release"]["dp"]["day"]
        assert spent(conn, "dp-heatmaps", day) == 0.5
    wipe_run_data(engine)
    with engine.connect() as conn:
        assert spent(conn, "dp-heatmaps", day) == 0.5


def test_a_person_level_policy_gets_no_event_level_release_passed_off_as_its_own(client, tmp_path):
    """A policy stating `unit: person` (as the lab can calibrate) used to be served
    event-level noise under the label "event": the API now refuses, saying why, and the
    budget names the unit the policy states."""
    import shutil

    from services.policy.active import POLICIES_DIR, PolicyBook

    policies = tmp_path / "policies-person"
    shutil.copytree(POLICIES_DIR, policies)
    dp = policies / "dp-heatmaps.yaml"
    dp.write_text(dp.read_text().replace("unit: event", "unit: person"))
    client.app.state.policybook = PolicyBook(policies)
    client.put("/policy/active", json={"policy": "dp-heatmaps"})
    r = _heat(client, 0)
    assert r.status_code == 429 and "person-level" in r.json()["detail"], r.text
    assert client.get("/policy/budget").json()["unit"] == "person"
