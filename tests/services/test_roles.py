"""Every endpoint for each role: the role matrix is complete, and the API applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.auth import tokens
from services.auth.roles import MATRIX, PUBLIC, Role
from services.config import Settings
from services.store.db import migrate
from tests.accounts import ROLES, add_accounts, bearer, clients_by_role, token_for
from tests.conftest import make_settings

PATH_VALUES = {
    "rule_id": "large-group",
    "grant_id": "1",
    "run_id": "quick-look",
    "name": "frontier",
    "experiment": "quick-look",
}
WHO = (*ROLES, "anonymous")


def _endpoints() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, as its OpenAPI schema lists them (full paths,
    whatever the FastAPI version does with included routers)."""
    app = create_app(Settings(_env_file=None, database_url="sqlite://"))
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    )


def test_no_route_hides_from_the_schema_and_so_from_this_test():
    app = create_app(Settings(_env_file=None, database_url="sqlite://"))
    hidden = [r for r in app.routes if getattr(r, "include_in_schema", True) is False]
    assert [getattr(r, "path", "") for r in hidden] == ["/openapi.json", "/docs",
        "/docs/oauth2-redirect", "/redoc"]  # fmt: skip


ENDPOINTS = _endpoints()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roles")
    (tmp / "rules").mkdir()
    url = f"sqlite:///{tmp / 'aqkol.db'}"
    migrate(url)
    app = create_app(make_settings(tmp, port=1, database_url=url, rules_dir=tmp / "rules"))
    add_accounts(app.state.engine)
    return app


@pytest.fixture(scope="module")
def clients(app) -> dict[str, TestClient]:
    return clients_by_role(app)


def test_every_endpoint_has_an_entry_and_every_entry_an_endpoint():
    missing = [f"{m} {p}" for m, p in ENDPOINTS if (m, p) not in MATRIX]
    assert not missing, f"add these to services/auth/roles.py MATRIX: {missing}"
    stale = [f"{m} {p}" for m, p in MATRIX if (m, p) not in ENDPOINTS]
    assert not stale, f"the role matrix names endpoints that do not exist: {stale}"


def test_the_teacher_may_call_everything_that_needs_a_login():
    for key, who in MATRIX.items():
        assert who == PUBLIC or Role.TEACHER in who, key


def _call(client: TestClient, method: str, path: str):
    url = path.format(**PATH_VALUES)
    if method == "GET":
        return client.get(url)
    if path == "/auth/token":
        return client.post(url, data={"username": "nobody", "password": "wrong-password"})
    # no body: an allowed caller gets a validation error, a refused one 401/403 first
    return client.request(method, url)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_endpoint_answers_each_role_as_the_matrix_says(clients, method, path, who):
    allowed = MATRIX[(method, path)]
    r = _call(clients[who], method, path)
    if path == "/auth/logout" and who != "anonymous" and r.status_code == 204:
        # it ended every login of the account: the shared client logs in again
        clients[who].headers.update(bearer(token_for(clients["anonymous"], who)))
    if allowed == PUBLIC:
        assert r.status_code not in (403,), r.text
        if path != "/auth/token":  # a wrong password is 401 by design
            assert r.status_code != 401, r.text
    elif who == "anonymous":
        assert r.status_code == 401, r.text
        assert "not logged in" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
    elif who in allowed:
        assert r.status_code not in (401, 403), r.text
    else:
        assert r.status_code == 403, r.text
        assert f"role '{who}' may not {method} {path}" in r.json()["detail"]


def test_a_forged_expired_or_orphaned_token_is_401(app, clients):
    settings = app.state.settings
    anonymous = clients["anonymous"]
    forged = tokens.issue(
        Settings(
            _env_file=None,
            secret_key="not-the-secret-of-this-api-at-all-0123456789",
            var_dir=settings.var_dir,
        ),
        "teacher",
        "teacher",
    )
    expired = tokens.issue(
        settings, "teacher", "teacher", now=datetime.now(UTC) - timedelta(days=2)
    )
    ghost = tokens.issue(settings, "ghost", "teacher")
    for token, says in (
        (forged, "invalid token"),
        (expired, "expired"),
        (ghost, "no longer exists"),
        ("not-a-jwt", "invalid token"),
    ):
        r = anonymous.get("/stats", headers=bearer(token))
        assert r.status_code == 401 and says in r.json()["detail"], (says, r.text)


def test_login_gives_a_token_naming_the_role_and_me_tells_who(clients):
    anonymous = clients["anonymous"]
    r = anonymous.post(
        "/auth/token", data={"username": "auditor", "password": "auditor-test-password"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "auditor"
    me = anonymous.get("/auth/me", headers=bearer(body["access_token"])).json()
    assert me == {"username": "auditor", "role": "auditor", "demo": False}
    bad = anonymous.post("/auth/token", data={"username": "auditor", "password": "wrong-one!"})
    assert bad.status_code == 401 and bad.json()["detail"] == "wrong user name or password"
    assert anonymous.post("/auth/token", data={"username": "x", "password": "y"}).status_code == 401


def test_an_endpoint_missing_from_the_matrix_is_refused_to_everyone(app):
    from fastapi import APIRouter

    from services.api.deps import authorize

    router = APIRouter()

    @router.get("/not-in-the-matrix")
    def forgotten() -> dict:
        return {}

    from fastapi import Depends, FastAPI

    other = FastAPI(dependencies=[Depends(authorize)])
    other.state.settings, other.state.engine = app.state.settings, app.state.engine
    other.include_router(router)
    client = TestClient(other)
    token = token_for(TestClient(app), "teacher")
    r = client.get("/not-in-the-matrix", headers=bearer(token))
    assert r.status_code == 403 and "no entry in the role matrix" in r.json()["detail"]
