"""Payloads the ingest refused, with the reason."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.api.deps import ConnDep, active_spec
from services.api.release import ReleaseDep
from services.api.schemas.dead_letters import DeadLetterList, DeadLetterOut
from services.store import repo

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=DeadLetterList)
def list_dead_letters(
    request: Request,
    conn: ConnDep,
    gate: ReleaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> DeadLetterList:
    """Retrieve the newest dead letters (their payloads only where the policy keeps them)."""
    show = gate.dead_letter_payloads(active_spec(request, conn))
    return DeadLetterList(
        items=[
            DeadLetterOut(
                id=r.id,
                received_at=r.received_at,
                topic=r.topic,
                reason=r.reason,
                payload_size=r.payload_size,
                payload_preview=bytes(r.payload[:256]).decode("utf-8", "replace") if show else "",
            )
            for r in repo.dead_letter_rows(conn, limit)
        ]
    )
