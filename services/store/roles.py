"""The database role the services connect as: neither owner nor superuser (PostgreSQL).

Migrations run as the owner of the schema. The services (ingest, API, dashboard) connect as
an application role that may read and write the data but not change the schema: it cannot
drop the triggers that keep the audit log append-only, and on the audit log itself it may
only read and append (no UPDATE, DELETE or TRUNCATE privilege at all). So someone who takes
over the API's database connection cannot cut the log; the keyed chain and its anchor
(``services/transparency/audit.py``) catch whoever holds the owner's password.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

APP_ROLE = "aqkol_app"
APPEND_ONLY_TABLES = ("audit_log",)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleError(ValueError):
    """A role name or setup that is refused."""


def grant_app_role(owner: Engine, password: str, role: str = APP_ROLE) -> None:
    """Create (or update) ``role`` with login, and grant it what the services need; run as
    the owner of the schema, after the migrations."""
    if owner.dialect.name != "postgresql":
        raise RoleError("database roles are a PostgreSQL matter (SQLite has none)")
    if not _NAME.match(role):
        raise RoleError(f"{role!r} is not a plain role name")
    if len(password) < 16:
        raise RoleError("the application role's password must have 16 characters or more")
    with owner.begin() as conn:
        me = conn.execute(text("SELECT current_user")).scalar_one()
        if me == role:
            raise RoleError("run this as the schema's owner, not as the application role")
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        verb = "ALTER" if exists.first() else "CREATE"
        # the password is a bound literal: format it safely for a DDL statement
        quoted = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        conn.execute(
            text(
                f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS '
                f"PASSWORD {quoted}"
            )
        )
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(
            text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        )
        conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
        for table in APPEND_ONLY_TABLES:
            conn.execute(text(f'REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM "{role}"'))
        # alembic's own bookkeeping is the owner's
        conn.execute(text(f'REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM "{role}"'))
