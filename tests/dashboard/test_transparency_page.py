"""The Transparency page in process: chain status, audit table, sensor register, refusals."""

from __future__ import annotations

import json

import httpx
import plotly.utils

from dashboard.api_client import Fetched
from dashboard.transparency_views import audit_rows, chain_status, device_card
from tests.dashboard.fakes import AUDIT, CHAIN_BROKEN, CHAIN_OK, REGISTER, FakeApi
from tests.dashboard.test_login import _client, log_in
from tests.dashboard.test_rules_page import _call, _text


def test_chain_status_says_intact_broken_or_unchecked():
    assert chain_status(Fetched(CHAIN_OK)) == (
        f"Chain intact: 3 entries, head {'ab' * 8}…",
        "chain ok",
    )
    text, css = chain_status(Fetched(CHAIN_BROKEN))
    assert css == "chain broken" and "entry #2" in text and "content changed" in text
    assert chain_status(Fetched({}, "not allowed"))[1] == "chain unknown"


def test_audit_rows_show_local_time_and_why():
    rows = audit_rows(AUDIT)
    assert rows[0]["at"] == "2026-01-15 08:05:00"
    assert rows[0]["why"].startswith("missing_person · Child missing")
    assert rows[2]["why"] == "kind=gas.reading"


def test_device_card_colours_fields_by_privacy_category():
    card = json.dumps(device_card(REGISTER["devices"][0]), cls=plotly.utils.PlotlyJSONEncoder)
    assert "field-chip identifier" in card and "enrollment_id (identifier)" in card
    assert "30 days" in card and "Police (simulated)" in card
    # identifiers first
    assert card.index("enrollment_id") < card.index("likelihood (telemetry)")


def test_the_auditor_sees_the_log_and_the_chain():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    log_in(client, username="auditor")
    out = _call(client, "transparency-chain.children", {"transparency-interval": 1})
    assert out["transparency-chain"]["className"] == "chain ok"
    assert [r["id"] for r in out["transparency-audit"]["data"]] == [3, 2, 1]
    assert [r["id"] for r in out["transparency-acts"]["data"]] == [3]  # the reveal, not reads
    fake.chain = dict(CHAIN_BROKEN)
    out = _call(client, "transparency-chain.children", {"transparency-interval": 2})
    assert out["transparency-chain"]["className"] == "chain broken"


def test_a_student_is_told_the_log_is_not_for_them_but_sees_the_register():
    _, client = _client(httpx.MockTransport(FakeApi()))
    log_in(client, username="student")
    out = _call(client, "transparency-chain.children", {"transparency-interval": 1})
    assert out["transparency-audit"]["data"] == []
    assert "not allowed" in out["transparency-audit-status"]["children"]
    reg = _call(client, "transparency-register.children", {"transparency-interval": "x"})
    assert "Street cameras" in _text(reg["transparency-register"]["children"])
