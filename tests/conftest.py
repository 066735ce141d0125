"""Shared fixtures: real brokers and real databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from services.config import Settings
from tests.support import PG_ADMIN_URL, missing, start_amqtt, start_mosquitto, stop

# The generated-input tests (schemathesis, the loader and CEL fuzzers) explore new inputs
# on every local run; in CI they replay the same ones (same seed, same inputs), so CI
# fails only on a change, and a new input that breaks something is found here first.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def amqtt_port(tmp_path: Path) -> Iterator[int]:
    proc, port = start_amqtt(tmp_path / "amqtt.log")
    yield port
    stop(proc)


@pytest.fixture
def mosquitto_port(tmp_path: Path) -> Iterator[int]:
    proc, port = start_mosquitto(tmp_path)
    yield port
    stop(proc)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aqkol.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except OperationalError as exc:
        missing(f"PostgreSQL at {PG_ADMIN_URL} ({exc.orig})")
    name = f"aqkol_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_settings(tmp_path: Path, *, port: int, database_url: str, **kw) -> Settings:
    """Settings isolated to one test: own topic prefix, client id, run and lab folders."""
    tag = uuid.uuid4().hex[:8]
    kw.setdefault("mqtt_prefix", f"t{tag}/")
    kw.setdefault("lab_results", tmp_path / "lab")  # the API's lab results: not the repo's
    return Settings(
        _env_file=None,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        database_url=database_url,
        ingest_client_id=f"ingest-{tag}",
        runs_dir=tmp_path / "runs",
        var_dir=tmp_path / "var",
        **kw,
    )
