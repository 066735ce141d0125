"""The API's doors: only /health and the login itself answer without a login, and failed
logins are limited per account and per address (HTTP 429 with Retry-After)."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.auth import tokens
from services.auth.ratelimit import CLIENT_HEADER, client_signature
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


def _machine(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def test_a_student_guessing_at_the_teacher_holds_only_their_own_machine(app):
    student = _machine(app, "192.0.2.50")
    for _ in range(5):
        assert _login(student, "teacher", "a-wrong-guess").status_code == 401
    r = _login(student, "teacher", password_of("teacher"))  # right, but held at this machine
    assert r.status_code == 429 and "too many failed logins" in r.json()["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert _login(student, "Teacher ", "again").status_code == 429  # the same account
    assert _login(student, "student", password_of("student")).status_code == 200
    # the exploit of old: five guesses locked the teacher out everywhere
    for teacher in (_machine(app, "127.0.0.1"), _machine(app, "192.0.2.9")):
        assert _login(teacher, "teacher", password_of("teacher")).status_code == 200


def test_failed_logins_are_limited_per_address(app):
    client = _machine(app, "192.0.2.50")
    for i in range(30):  # one address guessing at many names
        assert _login(client, f"name-{i}", "a-wrong-guess").status_code == 401
    assert _login(client, "student", password_of("student")).status_code == 429
    other = _machine(app, "192.0.2.7")  # another machine is not held
    assert _login(other, "student", password_of("student")).status_code == 200


def test_an_account_guessed_at_from_many_machines_is_held_but_not_on_the_teachers(tmp_path):
    url = f"sqlite:///{tmp_path / 'aqkol.db'}"
    migrate(url)
    settings = make_settings(
        tmp_path, port=1, database_url=url, login_failures_per_account_total="10/minute"
    )
    app = create_app(settings)
    add_accounts(app.state.engine, ("teacher",))
    for i in range(10):  # ten machines, one guess each
        assert _login(_machine(app, f"192.0.2.{i + 10}"), "teacher", "guess").status_code == 401
    assert _login(_machine(app, "192.0.2.9"), "teacher", password_of("teacher")).status_code == 429
    at_the_desk = _machine(app, "127.0.0.1")
    assert _login(at_the_desk, "teacher", password_of("teacher")).status_code == 200


def test_the_limits_are_shared_by_every_process_of_the_deployment(app, tmp_path):
    other_process = create_app(app.state.settings)  # a second uvicorn worker, or a restart
    student = _machine(app, "192.0.2.50")
    for _ in range(5):
        assert _login(student, "teacher", "a-wrong-guess").status_code == 401
    r = _login(_machine(other_process, "192.0.2.50"), "teacher", password_of("teacher"))
    assert r.status_code == 429
    assert app.state.login_limiter.count() == 15  # three keys a failure, hashed


def test_the_dashboard_vouches_for_the_real_client_and_nobody_else_can(app):
    key = tokens.derived_secret(app.state.settings, "client-address")
    dashboard = _machine(app, "127.0.0.1")  # every browser's login comes through it

    def via_dashboard(browser: str, name: str, password: str, sig: str | None = None):
        header = sig or client_signature(key, browser, int(time.time()))
        return dashboard.post(
            "/auth/token",
            data={"username": name, "password": password},
            headers={CLIENT_HEADER: header},
        )

    for i in range(30):  # thirty students fail once each, through the dashboard
        assert via_dashboard(f"192.0.2.{i + 100}", "student", "wrong").status_code == 401
    # no address is held: each failure counted for its own browser, none for the dashboard
    assert via_dashboard("192.0.2.200", "student", password_of("student")).status_code == 200
    for _ in range(5):
        assert via_dashboard("192.0.2.50", "teacher", "wrong").status_code == 401
    assert via_dashboard("192.0.2.50", "teacher", password_of("teacher")).status_code == 429
    # the teacher at the teacher's machine (a browser on loopback) is not held
    assert via_dashboard("127.0.0.1", "teacher", password_of("teacher")).status_code == 200
    # a student cannot claim to be the teacher's machine: a forged or stale header is ignored
    student = _machine(app, "192.0.2.50")
    forged = client_signature("not-the-key", "127.0.0.1", int(time.time()))
    stale = client_signature(key, "127.0.0.1", int(time.time()) - 3600)
    for header in (forged, stale, "127.0.0.1"):
        r = student.post(
            "/auth/token",
            data={"username": "teacher", "password": password_of("teacher")},
            headers={CLIENT_HEADER: header},
        )
        assert r.status_code == 429  # counted as what it is: 192.0.2.50, which is held


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
