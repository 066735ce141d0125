"""The teacher switches the policy from the situation room and sees which rules it blinds."""

from __future__ import annotations

import importlib
import json

import httpx
import plotly.utils

from dashboard import classroom
from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from tests.dashboard.fakes import FakeApi
from tests.dashboard.test_login import log_in
from tests.dashboard.test_rules_page import _call


def _client(fake: FakeApi, role: str):
    # Dash gives a module's callbacks to the first app made in the process; pages are run
    # again for every app, dashboard.classroom is not: run it again for this one
    importlib.reload(classroom)
    settings = DashboardSettings(_env_file=None, api_url="http://api.test")
    app = create_app(settings, api=ApiClient(settings.api_url, transport=httpx.MockTransport(fake)))
    client = app.server.test_client()
    log_in(client, role)
    return client


def _page(client) -> str:
    out = _call(client, "_pages_content.children", {"_pages_location": "/"})
    return json.dumps(out["_pages_content"]["children"], cls=plotly.utils.PlotlyJSONEncoder)


def test_teacher_switches_the_policy_and_sees_the_blinded_rules():
    fake = FakeApi()
    client = _client(fake, "teacher")
    page = _page(client)
    assert '"classroom-policy"' in page and "gdpr-minimal" in page
    assert "Watch-list match: activist" in page  # blinded under the active policy already
    out = _call(
        client,
        "classroom-blinded.children",
        {"classroom-policy-apply.n_clicks": 1, "classroom-policy.value": "gdpr-minimal"},
        trigger="classroom-policy-apply.n_clicks",
    )
    assert fake.policy == "gdpr-minimal"
    put = [r for r in fake.requests if r.url.path == "/policy/active"][-1]
    assert put.method == "PUT" and json.loads(put.content)["policy"] == "gdpr-minimal"
    assert "gdpr-minimal" in out["classroom-msg"]["children"]
    assert "Watch-list match: activist" in out["classroom-blinded"]["children"]


def test_a_refused_switch_says_why_and_changes_nothing():
    fake = FakeApi()
    client = _client(fake, "teacher")
    out = _call(
        client,
        "classroom-blinded.children",
        {"classroom-policy-apply.n_clicks": 1, "classroom-policy.value": "no-such"},
        trigger="classroom-policy-apply.n_clicks",
    )
    assert fake.policy == "none"
    assert "no-such" in out["classroom-msg"]["children"]
    assert "error" in out["classroom-msg"]["className"]


def test_students_get_no_policy_control():
    client = _client(FakeApi(), "student")
    assert '"classroom-policy"' not in _page(client)
