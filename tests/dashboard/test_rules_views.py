"""The Rules page's pure parts: rule cards, editor messages, preview summary, alert rows."""

from __future__ import annotations

from dashboard import fmt
from dashboard import rules_views as rv
from dashboard.api_client import Fetched
from tests.dashboard.fakes import PREVIEW, RULES
from tests.dashboard.test_views import _text


def test_rule_card_labels_misuse_and_the_blinding_reason():
    card = rv.rule_card(RULES[1])
    assert "state-blinded" in card.className and "misuse" in card.className
    text = _text(card)
    assert "MISUSE demonstration" in text and "Blinded: policy 'minimal'" in text
    assert "no alerts" in text


def test_refused_rule_shows_file_line_and_message():
    text = _text(rv.rule_card(RULES[2]))
    assert "refused" in text and "broken.yaml:7: unknown field 'wen'" in text
    assert fmt.problem({"file": "x.yaml", "line": None, "message": "bad"}) == "bad"
    assert fmt.problem({"file": "x.yaml", "line": 2, "message": "bad"}) == "line 2: bad"


def test_alert_counts_in_lifecycle_order():
    assert rv.alert_counts({"cleared": 12, "active": 3, "acknowledged": 1}) == (
        "3 active · 1 acknowledged · 12 cleared"
    )
    assert rv.alert_counts({"active": 0}) == "no alerts"


def test_validation_and_save_messages():
    ok = Fetched({"ok": True, "error": None, "needs": ["data.count", "geo"]})
    assert rv.validation_message(ok) == ("valid; needs data.count, geo", "editor-msg ok")
    assert rv.validation_message(Fetched({"ok": True, "needs": []}))[0] == "valid"
    bad = Fetched({"ok": False, "error": {"file": "editor", "line": 3, "message": "oops"}})
    assert rv.validation_message(bad) == ("line 3: oops", "editor-msg error")
    refused = Fetched({}, "oops", {"file": "editor", "line": 3, "message": "oops"})
    assert rv.save_message(refused)[0].startswith("Not saved: line 3: oops.")
    assert "API unreachable" in rv.save_message(Fetched({}, "API unreachable at x"))[0]


def test_preview_summary_mentions_truncation_blinding_and_errors():
    data = {**PREVIEW, "alerts": [], "truncated": True, "state": "blinded", "reason": "no face",
            "errors": 2, "last_error": "division by zero"}  # fmt: skip
    text = _text(rv.preview_summary(Fetched(data)))
    assert "Replayed 4,321 events" in text and "0 alerts, 2 errors" in text
    assert "no alerts" in text and "Only the first 4,321" in text
    assert "blinded by the policy: no face" in text and "division by zero" in text
    empty = {"events": 0, "alerts": [], "since": None, "until": None}
    assert "no events stored yet" in _text(rv.preview_summary(Fetched(empty)))


def test_local_alerts_and_alert_rows_use_aqkol_time():
    local = rv.local_alerts(PREVIEW["alerts"])
    assert local[0]["first_seen"] == "2026-01-15 07:30:00"
    assert PREVIEW["alerts"][0]["first_seen"].endswith("Z")  # untouched: UTC as the API writes it
    rows = rv.alert_rows(
        [{"id": 5, "rule": "r", "severity": "critical", "state": "cleared", "count": 2,
          "acknowledged_by": "ana", "acknowledged_at": "2026-01-15T02:00:00Z",
          "cleared_by": "bo", "cleared_at": "2026-01-15T02:30:00Z", "assignee": "ana"}]
    )  # fmt: skip
    assert rows[0]["acknowledged"] == "ana at 08:00:00"
    assert rows[0]["cleared"] == "bo at 08:30:00"
    assert (rows[0]["severity"], rows[0]["assignee"]) == ("CRITICAL", "ana")
    assert rv.selected_rows([{"id": 1}, {"id": 5}], [5, 9]) == [1]


def test_rule_card_shows_the_ingest_evaluation_errors():
    from dashboard.rules_views import rule_card

    card = rule_card(
        {"id": "fragile", "title": "Fragile", "state": "active", "severity": "info",
         "errors": 3, "last_error": "gas.reading from gas-1: no field 'pressure_kpa'"}
    )  # fmt: skip
    text = str(card)
    assert "3 evaluation errors" in text and "pressure_kpa" in text
