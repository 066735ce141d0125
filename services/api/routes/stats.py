"""Counts for the situation room's tiles and for tests."""

from fastapi import APIRouter

from services.api.deps import ConnDep
from services.api.schemas import Stats
from services.store import repo
from services.store.models import alerts, dead_letters

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=Stats)
def stats(conn: ConnDep) -> Stats:
    """Retrieve events stored (total and by kind), dead letters, active alerts, sim time."""
    by_kind = repo.counts_by_kind(conn)
    return Stats(
        events=sum(by_kind.values()),
        dead_letters=repo.count(conn, dead_letters),
        alerts_active=repo.count(conn, alerts, alerts.c.state == "active"),
        by_kind=by_kind,
        sim_time=repo.sim_time(conn),
    )
