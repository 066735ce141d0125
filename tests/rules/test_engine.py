"""The engine's building blocks: windows, geofences, persistence, blinding, lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.rules.alerts import acknowledge, apply_candidates, assign, auto_clear, clear
from services.rules.engine import RuleEngine
from services.store.db import make_engine, migrate
from services.store.models import alerts
from tests.factories import T0
from tests.rules.conftest import alerts_of, candidates, ev, rule

BASE = """\
id: r
title: R
severity: minor
purpose: other
"""


def crowd(source, minute, count, geo=(52.0, 70.933)):
    return ev("camera.crowd", source, minute, {"count": count, "window_s": 60}, geo=geo)


@pytest.mark.parametrize(
    ("aggregate", "of", "threshold", "expected"),
    [
        ("count", None, "value >= 3", [3.0, 4.0, 3.0]),  # minutes 0 and 3 leave before 14
        ("sum", "data.count", "value > 25", [30.0, 30.0]),
        ("avg", "data.count", "value >= 7.5", [7.5, 7.5, 10.0]),
        ("max", "data.count", "value >= 10", [10.0, 10.0, 10.0, 15.0]),
        ("distinct", "source", "value >= 2", [2.0, 2.0, 2.0]),
    ],
)
def test_window_aggregates_over_the_last_minutes(aggregate, of, threshold, expected):
    of_line = f"  of: {of}\n" if of else ""
    r = rule(
        BASE + "kinds: [camera.crowd]\nwindow:\n  minutes: 10\n"
        f"  aggregate: {aggregate}\n{of_line}  by: town\n  alert_when: {threshold}\n"
    )
    stream = [
        crowd("cam-1", 0, 5),
        crowd("cam-2", 3, 10),
        crowd("cam-1", 6, 5),
        crowd("cam-1", 9, 10),
        crowd("cam-1", 14, 15),  # minutes 0 and 3 have left the window
    ]
    got = [c.value for c in candidates(r, stream)[0]]
    assert got == expected


def test_window_grouped_by_cell_counts_each_cell_apart():
    r = rule(
        BASE + "kinds: [camera.crowd]\nwindow:\n  minutes: 5\n  by: cell\n  cell_res: 9\n"
        "  alert_when: value >= 3\n"
    )
    here, there = (52.0, 70.933), (52.02, 70.96)
    stream = [crowd("a", m, 1, here) for m in range(3)] + [crowd("b", m, 1, there) for m in (3, 4)]
    cands = candidates(r, sorted(stream, key=lambda e: e.ts))[0]
    assert len(cands) == 1 and cands[0].source == "a"


def test_geofence_by_place_and_by_polygon():
    from services.events.geo import to_latlon
    from simulator.geography import build_town

    square = next(p for p in build_town().places if p.id == "square")
    inside, outside = to_latlon(square.x + 20, square.y), to_latlon(square.x + 900, square.y)
    placed = rule(BASE + "kinds: [camera.crowd]\nwhere:\n  place: square\n  radius_m: 100\n")
    lat, lon = inside
    poly = [[lat - 0.001, lon - 0.001], [lat - 0.001, lon + 0.001], [lat + 0.001, lon]]
    fenced = rule(
        BASE.replace("id: r", "id: p") + f"kinds: [camera.crowd]\nwhere:\n  polygon: {poly}\n"
    )
    stream = [crowd("in", 0, 1, inside), crowd("out", 1, 1, outside), crowd("nogeo", 2, 1, None)]
    assert [c.source for c in candidates(placed, stream)[0]] == ["in"]
    assert [c.source for c in candidates(fenced, stream)[0]] == ["in"]
    assert "geo" in placed.needs


def test_in_a_row_resets_on_a_miss():
    r = rule(BASE + "kinds: [camera.crowd]\nwhen: data.count > 10\nin_a_row: 3\n")
    counts = [20, 20, 5, 20, 20, 20]
    cands = candidates(r, [crowd("cam", m, c) for m, c in enumerate(counts)])[0]
    assert [c.ts for c in cands] == [T0 + timedelta(minutes=5)]


class DropsField:
    """A stand-in for a data-minimization policy (the real ones come with the policy engine)."""

    def __init__(self, kind, field, why):
        self.kind, self.field, self.why = kind, field, why

    def removed(self, kind, field):
        return self.why if (kind, field) == (self.kind, self.field) else None


def test_a_rule_whose_field_the_policy_removes_is_blinded_and_never_fires():
    r = rule(BASE + "kinds: [camera.face_match]\nwhen: data.watchlist == 'wanted'\n")
    policy = DropsField("camera.face_match", "data.watchlist", "dropped (policy strict)")
    data = {"enrollment_id": "wl-1", "likelihood": 0.9, "watchlist": "wanted"}
    cands, engine = candidates(r, [ev("camera.face_match", "cam", 0, data)], policy)
    assert cands == []
    (st,) = engine.status()
    assert st["state"] == "blinded"
    assert "data.watchlist" in st["reason"] and "policy strict" in st["reason"]
    # a policy that leaves the fields alone leaves the rule alone
    other = DropsField("gas.reading", "data.household", "pseudonymized")
    assert len(candidates(r, [ev("camera.face_match", "cam", 0, data)], other)[0]) == 1


def test_an_expression_failing_on_one_event_is_counted_and_the_rest_go_on():
    r = rule(BASE + "kinds: [gas.reading]\nwhen: data.pressure_kpa < 1.0\n")
    good = ev(
        "gas.reading", "m1", 0, {"m3": 1, "interval_min": 30, "household": "h", "pressure_kpa": 0.5}
    )
    bad = ev("gas.reading", "m2", 1, {"m3": 1, "interval_min": 30, "household": "h"})
    cands, engine = candidates(r, [bad, good])
    assert [c.source for c in cands] == ["m1"]
    st = engine.status()[0]
    assert st["errors"] == 1 and "pressure_kpa" in st["last_error"]


def test_reload_keeps_the_window_of_an_unchanged_rule():
    r = rule(
        BASE
        + "kinds: [camera.crowd]\nwindow:\n  minutes: 10\n  by: town\n  alert_when: value >= 3\n"
    )
    other = rule(BASE.replace("id: r", "id: other") + "kinds: [gas.reading]\n")
    first = RuleEngine([r])
    first.process(crowd("a", 0, 1))
    first.process(crowd("a", 1, 1))
    second = RuleEngine([r, other], previous=first)
    assert [c.value for c in second.process(crowd("a", 2, 1))] == [3.0]


def test_lifecycle_repeat_acknowledge_clear_and_reopen(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    migrate(url)
    eng = make_engine(url)
    r = rule(BASE + "kinds: [camera.crowd]\nwhen: data.count > 10\nclear_after_minutes: 10\n")
    engine = RuleEngine([r])

    def feed(minute, count=20):
        cands = engine.process(crowd("cam", minute, count))
        with eng.begin() as c:
            apply_candidates(c, cands, engine.alert_meta())
            return auto_clear(c, engine.quiet_periods(), engine.watermark)

    def rows():
        with eng.connect() as c:
            return [dict(x._mapping) for x in c.execute(select(alerts).order_by(alerts.c.id))]

    feed(0)
    feed(1)
    (a,) = rows()
    assert (a["state"], a["count"]) == ("active", 2)
    with eng.begin() as c:
        assert acknowledge(c, [a["id"], 999], by="analyst-1", assignee="duty officer") == [a["id"]]
        assert assign(c, [a["id"]], "night shift") == [a["id"]]
    feed(2)
    (a,) = rows()
    assert (a["state"], a["count"], a["acknowledged_by"], a["assignee"]) == (
        "acknowledged",
        3,
        "analyst-1",
        "night shift",
    )
    with eng.begin() as c:
        assert clear(c, [a["id"]], by="analyst-1", reason="dispersed") == [a["id"]]
        assert clear(c, [a["id"]], by="analyst-2") == []  # already cleared
    feed(3)  # a repeat after a clear opens a new alert
    assert [(x["state"], x["count"]) for x in rows()] == [("cleared", 3), ("active", 1)]
    assert feed(30, count=1) == 1  # quiet for 27 minutes: auto-cleared
    assert [(x["state"], x["cleared_by"]) for x in rows()] == [
        ("cleared", "analyst-1"), ("cleared", "auto")
    ]  # fmt: skip
    eng.dispose()


def test_alerts_of_misuse_rules_are_marked(tmp_path):
    r = rule(BASE + "misuse: true\nkinds: [camera.crowd]\n")
    (a,) = alerts_of(r, [crowd("cam", 0, 1)], tmp_path / "a.db")
    assert a["misuse"] is True and a["details"]["misuse"] is True


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ('"t" in latest && latest["t"].c < -25.0 && value < 1', 3),
        ('x && "&&" == y', 2),  # && inside a string is not an operator
        ("a && (b || c)", 2),
        ("a || b && c", None),  # || binds looser: not a conjunction
        ("a ? b : c && d", None),
        ('r"x" && y', None),  # raw strings are left to CEL
        ("a && b // a comment with && in it", None),
    ],
)
def test_alert_when_is_split_only_where_it_is_a_plain_conjunction(text, terms):
    from services.rules.expr import _conjuncts

    got = _conjuncts(text)
    assert (None if got is None else len(got)) == terms


def test_a_gate_on_latest_changes_no_alert(tmp_path):
    """cold-home's alert_when is judged on `latest` first (once per change of it, not per
    reading); the alerts are those of evaluating the whole expression on every reading."""
    text = (
        BASE + "kinds: [gas.reading]\ncontext: [env.reading]\nwindow:\n  minutes: 60\n"
        "  aggregate: sum\n  of: data.m3\n  by: source\n"
        '  alert_when: \'"env.reading" in latest && latest["env.reading"].temperature_c < -25.0'
        " && value > 1.0'\n"
    )
    gated, plain = rule(text), rule(text)
    assert gated.alert_gate is not None
    plain.alert_gate = None  # the same rule, evaluated whole on every event
    stream = []
    for minute in range(0, 600, 10):
        if minute % 60 == 0:  # the temperature crosses -25 C and back
            temp = -30.0 if (minute // 60) % 3 else -20.0
            stream.append(ev("env.reading", "env-1", minute, {"temperature_c": temp}))
        for m in range(3):
            stream.append(ev("gas.reading", f"gas-{m}", minute, {"m3": 0.1 + 0.2 * m}))
    a, _ = candidates(gated, stream)
    b, _ = candidates(plain, stream)
    assert a and a == b
    assert {c.source for c in a} == {"gas-1", "gas-2"}
