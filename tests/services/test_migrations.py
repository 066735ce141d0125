"""The Alembic migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.store.db import make_engine, migrate
from services.store.models import metadata


def _differences(url: str) -> list:
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    # server defaults and comments render differently per dialect; tables, columns, types,
    # nullability and indexes must match
    cosmetic = ("modify_default", "modify_comment")
    return [d for d in diffs if not (isinstance(d, list) and d and d[0][0] in cosmetic)]


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_migrations_match_the_models(db, request):
    assert _differences(request.getfixturevalue(db)) == []
