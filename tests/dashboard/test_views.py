"""HTML parts of the situation room and Aqkol-time formatting."""

from __future__ import annotations

from dashboard import fmt, views
from tests.dashboard.fakes import ALERTS


def _text(component) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, list | tuple):
        return " ".join(_text(c) for c in children)
    if children is None:
        return ""
    return children if isinstance(children, str) else _text(children)


def test_times_are_shown_in_aqkol_time():
    assert fmt.time_of_day("2026-01-15T01:59:00+00:00") == "07:59:00"
    assert fmt.time_of_day("2026-01-15T07:59:00+06:00") == "07:59:00"
    assert fmt.clock("2026-01-15T18:30:00Z") == "Fri 16 Jan 2026 00:30:00"
    assert fmt.time_of_day(None) == "--:--:--"


def test_alert_feed_is_newest_first_with_severity_and_local_time():
    items = list(reversed(ALERTS["items"]))  # oldest first on purpose
    feed = views.alert_feed(items)
    assert len(feed) == 2
    first = feed[0]
    assert "alert-item" in first.className and "sev-major" in first.className
    text = _text(first)
    assert "Large group: 40 people at cam-001" in text
    assert "cam-001" in text and "07:59:00" in text and "×3" in text
    assert "state-resolved" in feed[1].className


def test_alert_feed_says_when_empty_or_unreachable():
    assert "No alerts" in _text(views.alert_feed([])[0])
    assert "unreachable" in _text(views.alert_feed([], "API unreachable")[0])


def test_severity_classes():
    assert views.severity_class("CRITICAL") == "critical"
    assert views.severity_class("major") == "major"
    assert views.severity_class("minor") == "warning"
    assert views.severity_class(None) == "info"


def test_heat_marker_carries_the_cell_count():
    marker = views.heat_marker(7, None, None)
    assert marker.id == "situation-heat-cells"
    assert marker.to_plotly_json()["props"]["data-heat-cells"] == "7"
    assert fmt.count(1234567) == "1,234,567"


def test_heat_marker_shows_the_privacy_budget_spent_under_dp():
    dp = {"day": "2026-01-15", "epsilon": 0.5, "spent": 1.5, "daily_budget": 5, "unit": "event"}
    text = views.heat_marker(3, None, None, release={"policy": "dp-heatmaps", "dp": dp}).children
    assert "1.5 of 5 spent today" in text and "per event" in text
    assert "budget" not in views.heat_marker(3, None, None, release=None).children
