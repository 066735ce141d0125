"""Payloads the ingest refused, with the reason."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.deps import ConnDep
from services.api.schemas import DeadLetterList, DeadLetterOut
from services.store import repo

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterList)
def list_dead_letters(
    conn: ConnDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> DeadLetterList:
    """Retrieve the newest dead letters."""
    return DeadLetterList(
        items=[
            DeadLetterOut(
                id=r.id,
                received_at=r.received_at,
                topic=r.topic,
                reason=r.reason,
                payload_size=r.payload_size,
                payload_preview=bytes(r.payload[:256]).decode("utf-8", "replace"),
            )
            for r in repo.dead_letter_rows(conn, limit)
        ]
    )
