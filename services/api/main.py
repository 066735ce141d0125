"""The FastAPI application."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from services.api.deps import authorize
from services.api.routes import (
    alerts,
    audit,
    auth,
    citizen,
    classroom,
    dead_letters,
    events,
    health,
    heatmap,
    policy,
    register,
    reveal,
    rules,
    stats,
    town,
)
from services.api.schemas import Refusal
from services.auth.ratelimit import LoginLimiter
from services.config import Settings, get_settings
from services.store.db import make_engine

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
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API bound to the settings' database; every route goes through the role matrix."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Aqkol command center API",
        description="What the simulated command center stores about the town (never ground truth). "
        "Log in with POST /auth/token; services/auth/roles.py says which role may call what.",
        version="0.1.0",
        dependencies=[Depends(authorize)],
        # the routes refuse with a message as well as with validation errors, both as 422
        responses={422: {"model": Refusal, "description": "Refused: invalid request"}},
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.effective_database_url)
    app.state.login_limiter = LoginLimiter(
        settings.login_failures_per_account, settings.login_failures_per_address
    )
    for module in ROUTERS:
        app.include_router(module.router)
    app.router.add_event_handler("shutdown", lambda: _close_views(app))
    return app


def _close_views(app: FastAPI) -> None:
    """Write the end of every viewing session still open (services/transparency/audit.py)."""
    sessions = getattr(app.state, "view_sessions", None)
    if sessions is not None:
        sessions.close_all(app.state.engine)
