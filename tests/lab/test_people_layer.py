"""The people layer: what /heatmap?layer=people releases is what the lab attacks.

Issue 14: the lab's trajectory attack used to read a people-per-cell layer built from the
simulator's ground truth, which the command center never serves, and called its noise
person-level without a layer whose person-level sensitivity it knew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.events.geo import to_latlon
from services.ingest import Ingest
from services.lab.attacks.trajectory import link, link_attack, people_layer, release_edges
from services.lab.noise import laplace_scale
from services.lab.store import face_view, minimizer
from services.lab.traces import face_traces
from services.policy.active import PolicyBook
from services.policy.release import (
    UnitUnsupported,
    _measurement,
    people_counts,
    sensitivity,
    town_cells,
)
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import make_event, message

HOUR_MS = 3_600_000
T0 = datetime(2026, 1, 15, 1, 0, tzinfo=UTC)  # 07:00 in Aqkol: four hours within one day
CAMERAS = pd.DataFrame(
    {
        "id": ["cam-001", "cam-002", "cam-003", "cam-004"],
        "x": [0.0, 40.0, 1500.0, -900.0],  # the first two share an H3 9 cell
        "y": [0.0, 30.0, 900.0, 1200.0],
        "face": [True, True, True, True],
    }
)


def _sightings(seed: int = 5) -> pd.DataFrame:
    """40 people passing the four cameras over four hours, some twice in a minute."""
    rng = np.random.default_rng(seed)
    n = 400
    t = T0.timestamp() * 1000 + rng.integers(0, 4 * HOUR_MS, n)
    t[:20] = t[20:40]  # one person at two cameras at one time: ties broken alike
    return pd.DataFrame(
        {
            "person": [f"res-{i:03d}" for i in rng.integers(0, 40, n)],
            "camera": CAMERAS["id"].to_numpy()[rng.integers(0, 4, n)],
            "t_ms": t.astype(np.int64),
        }
    )


@pytest.mark.parametrize("policy", ["none", "gdpr-minimal"])
def test_the_labs_released_layer_is_what_heatmap_serves(tmp_path, sqlite_url, policy):
    """The same face matches, stored under the policy by the real ingest and read back
    through /heatmap?layer=people, give the layer the lab attacks, window by window."""
    spec = PolicyBook().spec(policy)
    sightings = _sightings()
    view = face_view(minimizer(spec), CAMERAS)
    traces = face_traces(sightings, CAMERAS, view, capture_rate=1.0)
    edges = release_edges(
        int(T0.timestamp() * 1000), int(T0.timestamp() * 1000) + 4 * HOUR_MS, HOUR_MS
    )
    _last, lab = people_layer(traces, view, edges)
    assert lab.sum() > 100  # people seen in every window

    settings = make_settings(
        tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", policy=policy
    )
    migrate(sqlite_url)
    xy = CAMERAS.set_index("id")[["x", "y"]]
    evs = [
        make_event(
            "camera.face_match",
            r.camera,
            datetime.fromtimestamp(r.t_ms / 1000, UTC),
            {"enrollment_id": r.person, "likelihood": 0.9, "watchlist": "wanted"},
            geo=to_latlon(*xy.loc[r.camera]),
        )
        for r in sightings.itertuples()
    ]
    # the town's now, past the last window (a release may not end after it)
    evs.append(make_event("camera.crowd", "cam-001", T0 + timedelta(hours=5)))
    Ingest(settings).process([message(e) for e in evs])
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    grid = town_cells(9)
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "teacher")))
        for w in range(len(edges) - 1):
            until = datetime.fromtimestamp(edges[w + 1] / 1000, UTC).isoformat()
            r = c.get("/heatmap", params={"layer": "people", "until": until, "window_s": 3600})
            assert r.status_code == 200, r.text
            served = {cell["cell"]: cell["n"] for cell in r.json()["cells"]}
            mine = {grid[i]: int(n) for i, n in enumerate(lab[w]) if n}
            assert served == mine, w
        bad = c.get("/heatmap", params={"layer": "people", "kind": "gas.reading"})
        assert bad.status_code == 422


def test_people_counts_count_each_identity_once_per_window_in_its_last_cell():
    keys = ["a", "a", "a", "b", "b", None]
    ts = [0, 10, 10, 5, 70, 3]
    cells = ["c1", "c3", "c2", "c1", "c2", "c1"]
    got = people_counts(keys, ts, cells, [0, 60, 120])
    assert got == [{"c3": 1, "c1": 1}, {"c2": 1}]  # a: last at 10, the greater cell of two


def test_the_people_layers_sensitivity_is_stated_and_the_noise_calibrated_to_it():
    assert sensitivity("people", "person") == 1
    assert sensitivity("people", "event") == 2  # one match moved: one cell down, one up
    assert sensitivity("events", "event") == 1
    with pytest.raises(UnitUnsupported, match="person-level"):
        sensitivity("events", "person")
    assert _measurement(0.5, 2).map(2) <= 0.5 + 1e-9
    assert _measurement(0.5, 2).map(1) <= 0.25 + 1e-9  # twice the scale of d_in 1
    # the lab draws its noise at the scale the API's mechanism uses for the same d_in
    assert laplace_scale(0.5, 2) == pytest.approx(2 * laplace_scale(0.5, 1), rel=1e-6)
    assert _measurement(0.5, 2).map(2) == pytest.approx(0.5, rel=1e-6)


def test_linking_releases_is_the_assignment_and_beats_no_movement_only_when_people_move():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0]])
    f = link(np.array([2, 0, 1]), np.array([1, 1, 1]), xy)  # one leaves cell 0 for cell 1
    flows = {(int(a), int(b)): int(n) for a, b, n in f.itertuples(index=False)}
    assert flows == {(0, 0): 1, (2, 2): 1, (0, 1): 1}
    last = pd.DataFrame(
        {"window": [0, 0, 0, 1, 1, 1], "key": ["p", "q", "r"] * 2, "cell": [0, 0, 2, 0, 1, 2]}
    )
    released = np.array([[2, 0, 1], [1, 1, 1]])
    r = link_attack(last, released, xy)
    assert r["links"] == 3 and r["accuracy"] == 1.0
    assert r["accuracy_baseline"] == pytest.approx(2 / 3)  # no movement misses q's move
    # people who enter and leave between releases are not links: nothing to score
    gone = pd.DataFrame({"window": [0, 1], "key": ["p", "q"], "cell": [0, 1]})
    assert link_attack(gone, np.array([[1, 0, 0], [0, 1, 0]]), xy)["links"] == 0


def test_a_dp_people_release_states_its_sensitivity_and_keeps_off_the_towns_midnight(
    tmp_path, sqlite_url
):
    """Under dp-heatmaps (unit: event) the people layer is noised at sensitivity 2 and says
    so; a window that could span the town's midnight (where pseudonyms rotate) is refused."""
    settings = make_settings(
        tmp_path, port=1, database_url=sqlite_url, mqtt_prefix="", policy="dp-heatmaps"
    )
    migrate(sqlite_url)
    xy = CAMERAS.set_index("id")[["x", "y"]]
    evs = [
        make_event(
            "camera.face_match",
            r.camera,
            datetime.fromtimestamp(r.t_ms / 1000, UTC),
            {"enrollment_id": r.person, "likelihood": 0.9, "watchlist": "wanted"},
            geo=to_latlon(*xy.loc[r.camera]),
        )
        for r in _sightings().itertuples()
    ]
    Ingest(settings).process([message(e) for e in evs])
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    until = (T0 + timedelta(hours=2)).isoformat()
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "teacher")))
        r = c.get("/heatmap", params={"layer": "people", "until": until, "window_s": 3600})
        assert r.status_code == 200, r.text
        dp = r.json()["release"]["dp"]
        assert dp["layer"] == "people" and dp["sensitivity"] == 2 and dp["unit"] == "event"
        odd = c.get("/heatmap", params={"layer": "people", "until": until, "window_s": 5000})
        assert odd.status_code == 422 and "midnight" in odd.json()["detail"]
        crowd = c.get("/heatmap", params={"kind": "camera.face_match", "until": until})
        assert crowd.json()["release"]["dp"]["sensitivity"] == 1  # the event layer
