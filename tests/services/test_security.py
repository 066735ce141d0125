"""The API's doors: only /health and the login itself answer without a login, and failed
logins are limited per account and per address (HTTP 429 with Retry-After)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.auth.roles import MATRIX, PUBLIC
from services.store.db import migrate
from tests.accounts import add_accounts, password_of
from tests.conftest import make_settings


def test_everything_but_health_and_the_login_needs_a_login():
    public = sorted(key for key, who in MATRIX.items() if who == PUBLIC)
    assert public == [("GET", "/health"), ("POST", "/auth/token")]
    # and tests/services/test_roles.py asks every endpoint anonymously: 401 for all others


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    migrate(url)
    app = create_app(make_settings(tmp_path, port=1, database_url=url))
    add_accounts(app.state.engine, ("teacher", "student"))
    return app


def _login(client: TestClient, name: str, password: str):
    return client.post("/auth/token", data={"username": name, "password": password})


def test_failed_logins_are_limited_per_account(app):
    client = TestClient(app)
    for _ in range(5):
        assert _login(client, "teacher", "a-wrong-guess").status_code == 401
    r = _login(client, "teacher", password_of("teacher"))  # right, but the account is held
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert _login(client, "Teacher ", "again").status_code == 429  # the same account
    assert _login(client, "student", password_of("student")).status_code == 200


def test_failed_logins_are_limited_per_address(app):
    client = TestClient(app)
    for i in range(30):  # one address guessing at many names
        assert _login(client, f"name-{i}", "a-wrong-guess").status_code == 401
    assert _login(client, "student", password_of("student")).status_code == 429
    other = TestClient(app, client=("192.0.2.7", 50000))  # another machine is not held
    assert _login(other, "student", password_of("student")).status_code == 200


def test_a_successful_login_does_not_count(app):
    client = TestClient(app)
    for _ in range(12):
        assert _login(client, "student", password_of("student")).status_code == 200
