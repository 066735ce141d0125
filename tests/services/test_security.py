"""The API's doors: only /health and the login itself answer without a login, and failed
logins are limited per account and per address (HTTP 429 with Retry-After)."""

from __future__ import annotations

import jwt
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.auth.roles import MATRIX, PUBLIC
from services.auth.users import remove_user
from services.store.db import migrate
from tests.accounts import add_accounts, bearer, password_of, token_for
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


def test_logout_revokes_the_token_everywhere(app):
    client = TestClient(app)
    laptop, phone = token_for(client, "student"), token_for(client, "student")
    assert client.get("/auth/me", headers=bearer(laptop)).status_code == 200
    assert client.post("/auth/logout", headers=bearer(phone)).status_code == 204
    for stolen in (laptop, phone):  # a copied token is worth nothing after the logout
        r = client.get("/auth/me", headers=bearer(stolen))
        assert r.status_code == 401 and "login has ended" in r.json()["detail"]
    assert client.get("/auth/me", headers=bearer(token_for(client, "student"))).status_code == 200


def test_a_password_change_revokes_the_old_tokens(app):
    client = TestClient(app)
    old = token_for(client, "teacher")
    wrong = {"current": "not-my-password", "new": "a-new-password-1"}
    r = client.post("/auth/password", json=wrong, headers=bearer(old))
    assert r.status_code == 422 and "current password is wrong" in r.json()["detail"]
    change = {"current": password_of("teacher"), "new": "a-new-password-1"}
    assert client.post("/auth/password", json=change, headers=bearer(old)).status_code == 204
    assert client.get("/auth/me", headers=bearer(old)).status_code == 401
    assert _login(client, "teacher", password_of("teacher")).status_code == 401
    new = token_for(client, "teacher", "a-new-password-1")
    assert client.get("/auth/me", headers=bearer(new)).status_code == 200


def test_an_account_removed_and_made_again_does_not_take_back_its_tokens(app):
    client = TestClient(app)
    old = token_for(client, "student")
    with app.state.engine.begin() as conn:
        remove_user(conn, "student")
    assert client.get("/auth/me", headers=bearer(old)).status_code == 401
    add_accounts(app.state.engine, ("student",))  # same name, same password
    r = client.get("/auth/me", headers=bearer(old))
    assert r.status_code == 401 and "login has ended" in r.json()["detail"]


def test_a_students_login_lasts_a_lesson_and_others_a_working_day(app):
    client = TestClient(app)
    student = _login(client, "student", password_of("student")).json()
    teacher = _login(client, "teacher", password_of("teacher")).json()
    assert student["expires_in"] == 120 * 60 and teacher["expires_in"] == 720 * 60
    claims = jwt.decode(student["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120 * 60
