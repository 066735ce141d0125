"""The services' database role (PostgreSQL): neither owner nor superuser, append-only on the
audit log, unable to drop the triggers that guard it."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, ProgrammingError

from services.store.db import make_engine, migrate
from services.store.roles import RoleError, grant_app_role
from services.transparency import audit


def test_the_app_role_reads_and_writes_but_cannot_cut_the_audit_log(postgres_url, tmp_path):
    migrate(postgres_url)
    owner = make_engine(postgres_url)
    role = f"aqkol_app_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    try:
        grant_app_role(owner, password, role)
        grant_app_role(owner, password, role)  # again after a later migration: the same
        host = postgres_url.split("@", 1)[1]
        app = make_engine(f"postgresql://{role}:{password}@{host}")
        audit.configure(app, "a-test-secret", audit.anchor_path(tmp_path, app))
        with app.connect() as conn:
            flags = conn.execute(text(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                "WHERE rolname = current_user"
            )).one()  # fmt: skip
            owner_of = conn.execute(text(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'"
            )).scalar_one()  # fmt: skip
        assert tuple(flags) == (False, False, False) and owner_of != role
        audit.append(app, "analyst", "analyst", "query", "GET /alerts")  # it may append
        with app.begin() as conn:  # and write the data
            conn.execute(text("DELETE FROM dead_letters"))
        cuts = (
            "TRUNCATE audit_log",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'x'",
            "DROP TRIGGER audit_log_no_update ON audit_log",
            "DROP TABLE audit_log",
        )
        for sql in cuts:
            with pytest.raises((ProgrammingError, DatabaseError)), app.begin() as conn:
                conn.execute(text(sql))
        with app.connect() as conn:
            assert audit.verify(conn).ok
        app.dispose()
    finally:
        with owner.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        owner.dispose()


def test_a_weak_password_or_sqlite_is_refused(sqlite_url):
    with pytest.raises(RoleError, match="PostgreSQL"):
        grant_app_role(make_engine(sqlite_url), secrets.token_urlsafe(24))


def test_in_the_deployment_only_the_migration_connects_as_the_owner():
    from tests.deploy.compose import ENV_EXAMPLE, load, read_env_file

    env = {k: secrets.token_urlsafe(24) if "change-me" in v else v
           for k, v in read_env_file(ENV_EXAMPLE).items()}  # fmt: skip
    services = load(env).services
    users = {name: s.env().get("AQKOL_DATABASE_URL", "").split("://")[-1].split(":")[0]
             for name, s in services.items() if s.env().get("AQKOL_DATABASE_URL")}  # fmt: skip
    assert users.pop("migrate") == env["POSTGRES_USER"]
    assert {"api", "ingest-1", "ingest-2"} <= set(users)
    assert set(users.values()) == {"aqkol_app"}, users
    assert services["migrate"].env()["AQKOL_APP_DB_PASSWORD"] == env["AQKOL_APP_DB_PASSWORD"]
