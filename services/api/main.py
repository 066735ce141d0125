"""The FastAPI application."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.api.bounds import BodyLimit, PreviewGate
from services.api.deps import authorize
from services.api.routes import (
    alerts,
    audit,
    auth,
    citizen,
    classroom,
    dead_letters,
    effect,
    events,
    health,
    heatmap,
    lab,
    policy,
    register,
    reveal,
    rules,
    stats,
    town,
    wire,
)
from services.api.schemas.common import Refusal
from services.auth import tokens
from services.auth.ratelimit import LoginLimiter
from services.config import Settings, get_settings
from services.events import quietlog
from services.store.db import make_engine
from services.transparency import audit as audit_log

ROUTERS = (
    health,
    auth,
    events,
    heatmap,
    alerts,
    rules,
    policy,
    stats,
    dead_letters,
    town,
    reveal,
    audit,
    register,
    citizen,
    classroom,
    wire,
    effect,
    lab,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API bound to the settings' database; every route goes through the role matrix."""
    settings = settings or get_settings()
    quietlog.install()  # no query strings or client addresses in the access log
    docs = settings.api_docs if settings.api_docs is not None else settings.env != "production"
    app = FastAPI(
        title="Aqkol command center API",
        description="What the simulated command center stores about the town (never ground truth). "
        "Log in with POST /auth/token; services/auth/roles.py says which role may call what.",
        version="0.1.0",
        dependencies=[Depends(authorize)],
        # the routes refuse with a message as well as with validation errors, both as 422
        responses={422: {"model": Refusal, "description": "Refused: invalid request"}},
        # the schema is a map of every door: for developers (the demo), not a classroom server
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.effective_database_url)
    _key_the_audit_chain(app, settings)
    app.state.login_limiter = LoginLimiter(
        app.state.engine,
        settings.login_failures_per_account,
        settings.login_failures_per_address,
        settings.login_failures_per_account_total,
    )
    app.state.preview_gate = PreviewGate(settings.preview_per_user, settings.preview_total)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    for module in ROUTERS:
        app.include_router(module.router)
    app.router.add_event_handler("shutdown", lambda: _close_views(app))
    return app


def _key_the_audit_chain(app: FastAPI, settings: Settings) -> None:
    """Key the audit chain with the API's secret, anchor its head under var/, check it."""
    engine = app.state.engine
    audit_log.configure(
        engine, tokens.secret(settings), audit_log.anchor_path(settings.var_dir, engine)
    )
    try:
        app.state.chain_at_start = audit_log.check_at_start(engine)
    except SQLAlchemyError as exc:  # not migrated yet: checked on the first Transparency view
        app.state.chain_at_start = None
        logging.getLogger(__name__).warning("audit log not checked at start: %s", exc)


def _close_views(app: FastAPI) -> None:
    """Write the end of every viewing session still open (services/transparency/audit.py)."""
    sessions = getattr(app.state, "view_sessions", None)
    if sessions is not None:
        sessions.close_all(app.state.engine)
    tap = getattr(app.state, "wire_tap", None)
    if tap is not None:  # the wire view's subscription (services/classroom/wire.py)
        tap.close()
