"""Quiet servers: no identifier in the access log, no API map in production."""

from __future__ import annotations

import logging
import secrets
import threading

import httpx
import uvicorn
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.config import Settings
from services.store.db import migrate
from tests.support import free_port, wait_until


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_the_api_access_log_names_no_resident_and_no_machine(tmp_path, sqlite_url):
    migrate(sqlite_url)
    app = create_app(Settings(_env_file=None, database_url=sqlite_url, var_dir=tmp_path / "var"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    seen = _Lines()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30, "uvicorn")
        access = logging.getLogger("uvicorn.access")  # configured by uvicorn as it started
        access.addHandler(seen)
        # a query as an analyst makes it: who lives at hh-0042, where was plate 123ABC01
        httpx.get(f"http://127.0.0.1:{port}/citizen", params={"household": "hh-0042"})
        httpx.get(f"http://127.0.0.1:{port}/events", params={"source": "car-123ABC01"})
        wait_until(lambda: len(seen.lines) >= 2, 10, "the access log")
    finally:
        server.should_exit = True
        thread.join(10)
        logging.getLogger("uvicorn.access").removeHandler(seen)
    text = "\n".join(seen.lines)
    assert "GET /citizen?[query]" in text and "401" in text  # what operators need stays
    assert "hh-0042" not in text and "123ABC01" not in text and "127.0.0.1" not in text


def test_the_dashboard_access_log_is_scrubbed_too():
    from dashboard.auth import quietlog

    quietlog.install()
    seen = _Lines()
    log = logging.getLogger("werkzeug")
    log.addHandler(seen)
    log.setLevel(logging.INFO)
    try:  # the line werkzeug's development server writes
        log.info('192.0.2.50 - - [05/Dec/2026 19:00:00] "%s" %s %s',
                 "GET /citizen?household=hh-0042 HTTP/1.1", "200", "-")  # fmt: skip
    finally:
        log.removeHandler(seen)
    (line,) = seen.lines
    assert "hh-0042" not in line and "192.0.2.50" not in line and "GET /citizen" in line


def test_docs_and_the_schema_are_closed_in_production_and_open_in_the_demo(tmp_path, sqlite_url):
    migrate(sqlite_url)
    strong = {"secret_key": secrets.token_urlsafe(32), "pseudonym_key": secrets.token_urlsafe(32)}
    prod = Settings(_env_file=None, env="production", database_url=sqlite_url, **strong)
    closed = TestClient(create_app(prod))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status_code == 404, path
    assert closed.get("/health").status_code == 200
    demo = TestClient(create_app(Settings(_env_file=None, database_url=sqlite_url)))
    assert demo.get("/openapi.json").status_code == 200
    opened = prod.model_copy(update={"api_docs": True})  # a developer's choice, said out loud
    assert TestClient(create_app(opened)).get("/docs").status_code == 200
