"""Engines and migrations: SQLite (WAL) by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from services.events.keys import private_dir, private_file

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; for SQLite, the folder is created and WAL mode with a busy timeout is set."""
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            _private_sqlite(Path(u.database))
        engine = create_engine(
            url, connect_args={"timeout": 30}, json_serializer=_json_dumps, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps, **kwargs)


def _private_sqlite(db: Path) -> None:
    """The database holds password hashes and the pseudonym escrow: a folder we create is
    0700, and the file 0600 (SQLite gives its -wal and -shm files the file's mode)."""
    if not db.parent.exists():
        private_dir(db.parent)
    if not db.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm"):
        private_file(f"{db}{suffix}")


def _json_dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (safe to call every start)."""
    make_engine(url).dispose()  # creates the SQLite folder and sets WAL before Alembic runs
    command.upgrade(alembic_config(url), "head")


def check_writable(url: str) -> None:
    """Raise if the database at ``url`` takes no writes (a read-only file system or
    database, a read-only role): one row of ``alembic_version`` updated to itself, rolled
    back. A migration already at head writes nothing, so it cannot tell."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
            finally:
                trans.rollback()
    finally:
        engine.dispose()
