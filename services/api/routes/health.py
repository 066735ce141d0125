"""Liveness and database reachability."""

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.api.deps import ConnDep
from services.api.schemas.health import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(conn: ConnDep, response: Response) -> Health:
    """Report whether the API and its database answer."""
    try:
        conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        response.status_code = 503
        return Health(status="degraded", database="unreachable")
    return Health(status="ok", database="ok")
