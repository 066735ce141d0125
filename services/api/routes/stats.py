"""Counts for the situation room's tiles and for tests."""

from fastapi import APIRouter
from sqlalchemy import Connection, case, func, select

from services.api.deps import ConnDep
from services.api.schemas.stats import Stats
from services.events.codec import REASONS
from services.store import repo
from services.store.models import alerts, dead_letters

router = APIRouter(tags=["stats"])


def dead_letters_by_reason(conn: Connection) -> dict[str, int]:
    """Dead letters counted per reason (the part of the reason before its first colon)."""
    r = dead_letters.c.reason
    # "invalid <kind>: ..." is a wrong field; the named reasons come first ("invalid JSON")
    whens = [(r.like(f"{code}%"), code) for code in REASONS if code != "invalid field"]
    code = case(*whens, (r.like("invalid %"), "invalid field"), else_="other")
    rows = conn.execute(select(code, func.count()).select_from(dead_letters).group_by(code))
    return {str(c): int(n) for c, n in rows}


@router.get("/stats", response_model=Stats)
def stats(conn: ConnDep) -> Stats:
    """Retrieve events stored (by kind), dead letters (by reason), active alerts, sim time."""
    by_kind = repo.counts_by_kind(conn)
    by_reason = dead_letters_by_reason(conn)
    return Stats(
        events=sum(by_kind.values()),
        dead_letters=sum(by_reason.values()),
        dead_letters_by_reason=by_reason,
        alerts_active=repo.count(conn, alerts, alerts.c.state == "active"),
        by_kind=by_kind,
        sim_time=repo.sim_time(conn),
    )
