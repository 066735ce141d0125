"""Login on the dashboard: pages only after login, the token forwarded to the API, logout."""

from __future__ import annotations

import re
import time

import httpx

from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from services.auth.ratelimit import forwarded_client
from services.auth.tokens import derived_secret
from services.config import Settings
from tests.dashboard.fakes import PASSWORD, FakeApi, unreachable


def _client(transport) -> tuple:
    settings = DashboardSettings(
        _env_file=None, api_url="http://api.test", secret_key="dashboard-test-secret-0123456789"
    )
    app = create_app(settings, api=ApiClient(settings.api_url, transport=transport))
    app.server_settings = settings
    return app, app.server.test_client()


LOGIN_PAGE_CALLBACK = {
    "output": ".._pages_content.children..._pages_store.data..",
    "outputs": [
        {"id": "_pages_content", "property": "children"},
        {"id": "_pages_store", "property": "data"},
    ],
    "inputs": [
        {"id": "_pages_location", "property": "pathname", "value": "/login"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ],
    "changedPropIds": ["_pages_location.pathname"],
    "state": [],
}


def login_form_token(client) -> str:
    """The CSRF token of the login form, as the browser gets it: Dash renders /login."""
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": "/login"},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    text = r.get_data(as_text=True)
    m = re.search(r'"id": ?"login-csrf"[^}]*?"value": ?"([^"]+)"', text) or re.search(
        r'"value": ?"([^"]+)"[^}]*?"id": ?"login-csrf"', text
    )
    assert m, "the login form has no CSRF token"
    return m.group(1)


def logged_in(client, username: str = "analyst", role: str = "analyst"):
    """A session as the login leaves it, without asking the API (which may be away)."""
    with client.session_transaction() as session:
        session.update(
            token=f"token-of-{username}",
            username=username,
            role=role,
            expires=time.time() + 3600,
        )
    return client


def log_in(client, username: str = "analyst", password: str = PASSWORD, next_: str = "/"):
    """Post the login form the way the browser does; the response (a redirect)."""
    data = {"username": username, "password": password, "next": next_}
    return client.post("/auth/login", data={**data, "csrf_token": login_form_token(client)})


def test_pages_redirect_to_login_until_logged_in():
    _, client = _client(httpx.MockTransport(FakeApi()))
    r = client.get("/rules")
    assert r.status_code == 302 and r.headers["location"] == "/login?next=%2Frules"
    login = client.get("/login")
    assert login.status_code == 200  # the Dash page that holds the form
    assert client.get("/assets/style.css").status_code == 200
    r = log_in(client, next_="/rules")
    assert r.status_code == 302 and r.headers["location"] == "/rules"
    assert client.get("/rules").status_code == 200


def test_wrong_password_or_api_away_go_back_to_the_form_with_a_reason():
    _, client = _client(httpx.MockTransport(FakeApi()))
    r = log_in(client, password="nope")
    assert r.status_code == 302 and "error=credentials" in r.headers["location"]
    assert client.get("/").status_code == 302
    _, away = _client(httpx.MockTransport(unreachable))
    assert "error=unreachable" in log_in(away).headers["location"]


def test_next_cannot_send_the_user_to_another_site():
    _, client = _client(httpx.MockTransport(FakeApi()))
    for target in ("//evil.example/", "https://evil.example/", "evil"):
        assert log_in(client, next_=target).headers["location"] == "/"


def _chain_callback(client) -> dict:
    """The body of the Transparency page's callback that reads the audit chain."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if "transparency-chain.children" in d["output"])
    return {
        "output": dep["output"],
        "outputs": [
            {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}
            for p in dep["output"].strip(".").split("...")
        ],
        "inputs": [{**i, "value": 1} for i in dep["inputs"]],
        "changedPropIds": ["transparency-interval.n_intervals"],
        "state": [],
    }


def test_the_token_goes_with_every_api_call_and_logout_forgets_it():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    log_in(client, username="auditor")
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "auditor" in layout and "Log out" in layout
    body = _chain_callback(client)
    assert client.post("/_dash-update-component", json=body).status_code == 200
    sent = [r for r in fake.requests if r.url.path == "/audit"]
    assert sent and sent[-1].headers["authorization"] == "Bearer token-of-auditor"
    assert client.get("/auth/logout").headers["location"] == "/login"
    assert client.get("/").status_code == 302
    # the API was told: the token ends there too, not only in this browser
    (out,) = [r for r in fake.requests if r.url.path == "/auth/logout"]
    assert out.method == "POST" and out.headers["authorization"] == "Bearer token-of-auditor"
    assert client.post("/_dash-update-component", json=body).status_code == 401


def test_a_callback_without_a_login_is_refused_before_it_runs():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    body = _chain_callback(client)
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 401 and "not logged in" in r.get_json()["error"]
    assert not [r for r in fake.requests if r.url.path.startswith("/audit")]
    other_page = {**body, "output": ".._pages_content.children..._pages_store.data.."}
    other_page["inputs"] = [{"id": "_pages_location", "property": "pathname", "value": "/lab"}]
    assert client.post("/_dash-update-component", json=other_page).status_code == 401
    assert login_form_token(client)  # the login page itself is drawn for a stranger


def test_the_session_cookie_is_secure_whenever_served_over_https():
    _, client = _client(httpx.MockTransport(FakeApi()))
    plain = log_in(client).headers.getlist("Set-Cookie")
    assert plain and not any("Secure" in c for c in plain)  # the demo on http://127.0.0.1
    _, tls = _client(httpx.MockTransport(FakeApi()))
    data = {"username": "analyst", "password": PASSWORD, "next": "/"}
    token = login_form_token(tls)
    r = tls.post(
        "/auth/login",
        data={**data, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
    )
    assert r.headers["location"] == "/"
    cookies = r.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in c for c in cookies)


def test_the_login_page_has_the_form_and_is_not_in_the_navigation():
    import json

    import dash
    import plotly.utils

    _, client = _client(httpx.MockTransport(FakeApi()))
    page = next(p for p in dash.page_registry.values() if p["path"] == "/login")
    rendered = json.dumps(page["layout"](error="credentials"), cls=plotly.utils.PlotlyJSONEncoder)
    for cid in ("login-form", "login-username", "login-password", "login-submit"):
        assert f'"{cid}"' in rendered
    assert "Wrong user name or password" in rendered and '"/auth/login"' in rendered
    log_in(client)
    nav = client.get("/_dash-layout").get_data(as_text=True)
    assert "Transparency" in nav and "Log in" not in nav


def test_a_login_post_without_the_forms_csrf_token_is_refused():
    _, client = _client(httpx.MockTransport(FakeApi()))
    data = {"username": "analyst", "password": PASSWORD, "next": "/rules"}
    for token in (None, "forged-token"):
        sent = data if token is None else {**data, "csrf_token": token}
        r = client.post("/auth/login", data=sent)  # e.g. a form on another site
        assert r.status_code == 302 and "error=expired" in r.headers["location"]
        assert client.get("/rules").status_code == 302  # not logged in
    assert log_in(client, next_="/rules").headers["location"] == "/rules"


def test_the_login_tells_the_api_the_real_browser_and_shows_its_limit():
    fake = FakeApi()

    def limited(request: httpx.Request) -> httpx.Response:
        tried = [r for r in fake.requests if r.url.path == "/auth/token"]
        if request.url.path == "/auth/token" and len(tried) >= 2:
            fake.requests.append(request)
            detail = "too many failed logins for this account or address; try again in 42 s"
            return httpx.Response(429, json={"detail": detail})
        return fake(request)

    app, client = _client(httpx.MockTransport(limited))
    client.environ_base["REMOTE_ADDR"] = "192.0.2.50"  # a student's browser
    assert "error=credentials" in log_in(client, password="wrong-guess").headers["location"]
    (asked,) = [r for r in fake.requests if r.url.path == "/auth/token"]
    # the API derives the key from the same secret, byte for byte, and takes the header
    secret = app.server_settings.secret_key.get_secret_value()
    key = derived_secret(Settings(_env_file=None, secret_key=secret), "client-address")
    assert forwarded_client(key, asked.headers["x-aqkol-client"]) == "192.0.2.50"
    log_in(client, password="wrong-guess")
    assert "error=throttled" in log_in(client).headers["location"]  # the API's answer


def test_an_oversized_callback_body_is_refused():
    _, client = _client(httpx.MockTransport(FakeApi()))
    logged_in(client)
    body = {
        **LOGIN_PAGE_CALLBACK,
        "state": [{"id": "x", "property": "y", "value": "z" * 1_100_000}],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 413
    assert client.post("/_dash-update-component", json=LOGIN_PAGE_CALLBACK).status_code == 200


def test_the_wire_page_draws_the_sample_through_the_api_with_the_token():
    fake = FakeApi()
    _, client = _client(httpx.MockTransport(fake))
    log_in(client, username="student")
    assert 'href":"\\u002fwire"' in client.get("/_dash-layout").get_data(as_text=True)  # nav
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if "wire-sample.children" in d["output"])
    body = {
        "output": dep["output"],
        "outputs": [
            {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}
            for p in dep["output"].strip(".").split("...")
        ],
        "inputs": [{**i, "value": 1} for i in dep["inputs"]],
        "changedPropIds": ["wire-interval.n_intervals"],
        "state": [],
    }
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert "wire-field wire-identifier" in text and "5.5" in text
    assert "wire-field wire-telemetry" in text and "gdpr-minimal" in text
    sent = [r for r in fake.requests if r.url.path == "/wire/sample"]
    assert sent and sent[-1].headers["authorization"] == "Bearer token-of-student"
