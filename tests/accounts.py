"""Accounts for tests: one per role, and API clients logged in as each."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.auth.roles import Role
from services.auth.users import add_user

ROLES = tuple(r.value for r in Role)


def password_of(name: str) -> str:
    """The password tests give the account ``name``."""
    return f"{name}-test-password"


def add_accounts(engine: Engine, roles: tuple[str, ...] = ROLES) -> dict[str, str]:
    """One account per role, named after the role; role -> user name."""
    with engine.begin() as conn:
        for role in roles:
            add_user(conn, role, role, password_of(role), replace=True)
    return {role: role for role in roles}


def token_for(client: TestClient, name: str, password: str | None = None) -> str:
    """Log in through the API (OAuth2 password flow); the bearer token."""
    r = client.post(
        "/auth/token", data={"username": name, "password": password or password_of(name)}
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    """The header that carries a token."""
    return {"Authorization": f"Bearer {token}"}


def clients_by_role(app: FastAPI, roles: tuple[str, ...] = ROLES) -> dict[str, TestClient]:
    """A client logged in as each role (the accounts must exist), plus 'anonymous'."""
    anonymous = TestClient(app)
    out = {role: TestClient(app, headers=bearer(token_for(anonymous, role))) for role in roles}
    out["anonymous"] = anonymous
    return out
