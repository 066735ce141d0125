"""Hostile input from a logged-in student: each is answered within a bounded cost, and the API
answers everyone else afterwards. The cost is the test process's CPU time (what the exploit
would burn), not wall time, so a busy machine does not make these flaky."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.routes import rules as rules_route
from services.ingest import Ingest
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, token_for
from tests.conftest import make_settings
from tests.factories import T0, make_event, message
from tests.services.test_api import CROWD_RULE
from tests.services.test_yamldoc import alias_bomb

H = {"content-type": "text/plain"}


def answered(call: Callable[[], Any], cpu_s: float = 1.0, guard_s: float = 60.0) -> Any:
    """``call()``'s answer, asserting it costs under ``cpu_s`` of this process's CPU.

    A daemon thread with a generous guard, so that an exploit that works fails the test
    instead of hanging it.
    """
    out: dict[str, Any] = {}
    cpu0 = time.process_time()
    t = threading.Thread(target=lambda: out.setdefault("r", call()), daemon=True)
    t.start()
    t.join(guard_s)
    assert not t.is_alive(), f"no answer within {guard_s} s"
    cpu = time.process_time() - cpu0
    assert cpu < cpu_s, f"the answer cost {cpu:.2f} s of CPU"
    return out["r"]


@pytest.fixture
def app(tmp_path, sqlite_url):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "large-group.yaml").write_text(CROWD_RULE)
    settings = make_settings(
        tmp_path,
        port=1,
        database_url=sqlite_url,
        mqtt_prefix="",
        rules_dir=rules,
        max_body_bytes=64 * 1024,
        preview_max_events=3,
    )
    migrate(sqlite_url)
    crowds = [
        make_event(
            "camera.crowd", "cam-007", T0 + timedelta(minutes=i), {"count": 30, "window_s": 60}
        )
        for i in range(5)
    ]
    Ingest(settings).process([message(e) for e in crowds])
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher", "student"))
    return app


@pytest.fixture
def student(app):
    with TestClient(app) as c:
        c.headers.update(bearer(token_for(c, "student")))
        yield c


def still_alive(app) -> None:
    with TestClient(app) as other:
        assert other.get("/health").status_code == 200
        other.headers.update(bearer(token_for(other, "teacher")))
        assert other.get("/rules").status_code == 200


def test_the_alias_bomb_is_answered_at_once_and_the_api_lives(app, student):
    bomb = alias_bomb(9)
    r = answered(lambda: student.post("/rules/validate", content=bomb, headers=H))
    assert r.status_code == 200 and r.json()["ok"] is False
    assert "aliases expand" in r.json()["error"]["message"]
    r = answered(lambda: student.post("/rules/preview", content=bomb, headers=H))
    assert r.status_code == 422 and "aliases expand" in r.json()["detail"]["message"]
    still_alive(app)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_an_oversized_body_is_refused_naming_the_limit(app, student, chunked):
    big = b"# " + b"x" * (65 * 1024) + b"\n" + CROWD_RULE.encode()
    content: Any = (big[i : i + 8192] for i in range(0, len(big), 8192)) if chunked else big
    r = answered(lambda: student.post("/rules/validate", content=content, headers=H))
    assert r.status_code == 413
    assert "65,536 bytes" in r.json()["detail"] and "AQKOL_MAX_BODY_BYTES" in r.json()["detail"]
    # a login form is a body too
    r = student.post("/auth/token", data={"username": "student", "password": "x" * 70_000})
    assert r.status_code == 413
    still_alive(app)


def test_a_preview_replays_a_bounded_number_of_events_and_says_so(app, student):
    r = answered(lambda: student.post("/rules/preview", content=CROWD_RULE, headers=H))
    p = r.json()
    assert r.status_code == 200 and p["events"] == 3 and p["truncated"] is True
    assert "AQKOL_PREVIEW_MAX_EVENTS" in p["stopped"]


def test_a_preview_stops_at_its_time_budget(app, student, monkeypatch):
    app.state.settings.preview_seconds = 0.001
    app.state.settings.preview_max_events = 1_000
    real = rules_route.Event.make

    def slow(*a, **kw):  # a rule that costs time per event, as a crafted one could
        time.sleep(0.01)
        return real(*a, **kw)

    monkeypatch.setattr(rules_route.Event, "make", slow)
    p = student.post("/rules/preview", content=CROWD_RULE, headers=H).json()
    assert p["truncated"] is True and "AQKOL_PREVIEW_SECONDS" in p["stopped"]
    assert p["events"] < 5


def test_a_preview_flood_is_refused_with_the_reason(app, student, monkeypatch):
    release = threading.Event()
    real = rules_route.replay_events

    def held(*a, **kw):  # the first preview holds its slot until released
        release.wait(30)
        return real(*a, **kw)

    monkeypatch.setattr(rules_route, "replay_events", held)
    first: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: first.setdefault(
            "r", student.post("/rules/preview", content=CROWD_RULE, headers=H)
        )
    )
    t.start()
    gate = app.state.preview_gate
    deadline = time.monotonic() + 30
    while gate._running.total() < 1:  # wait on the condition, not on a timer
        assert time.monotonic() < deadline, "the first preview never started"
        time.sleep(0.01)
    try:
        second = answered(lambda: student.post("/rules/preview", content=CROWD_RULE, headers=H))
        assert second.status_code == 429
        assert "a preview of yours is already running" in second.json()["detail"]
        assert second.headers["retry-after"]
        still_alive(app)  # the student's flood holds no one else up
    finally:
        release.set()
        t.join(30)
    assert first["r"].status_code == 200
    again = student.post("/rules/preview", content=CROWD_RULE, headers=H)
    assert again.status_code == 200  # the slot is given back


def test_previews_of_the_whole_class_are_bounded(app):
    gate = app.state.preview_gate
    # two at a time by default (two cores)
    with gate.slot("a"), gate.slot("b"), pytest.raises(HTTPException) as err, gate.slot("c"):
        pass
    assert err.value.status_code == 429 and "previews are running" in err.value.detail
    with gate.slot("c"):
        pass
