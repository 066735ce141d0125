"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.routes import (
    alerts,
    dead_letters,
    events,
    health,
    heatmap,
    policy,
    rules,
    stats,
    town,
)
from services.config import Settings, get_settings
from services.store.db import make_engine


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API bound to the settings' database."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Aqkol command center API",
        description="What the simulated command center stores about the town (never ground truth).",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.effective_database_url)
    for module in (health, events, heatmap, alerts, rules, policy, stats, dead_letters, town):
        app.include_router(module.router)
    return app
