"""The audit log of reveals and queries of personal data, and the check of its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.deps import ConnDep
from services.api.schemas.audit import AuditEntry, AuditPage, ChainOut
from services.transparency import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
def list_entries(
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="ids below this one (paging)")
    ] = None,
    actor: str | None = None,
    action: str | None = None,
    reads: Annotated[
        bool, Query(description="false: only acts (reveals, changes, the teacher's controls)")
    ] = True,
) -> AuditPage:
    """Retrieve audit entries, newest first; follow next_before for older ones."""
    rows = audit.entries(
        conn, limit=limit + 1, before=before, actor=actor, action=action, reads=reads
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditEntry(**r) for r in rows],
        total=audit.count(conn),
        next_before=rows[-1]["id"] if more else None,
    )


@router.get("/verify", response_model=ChainOut)
def verify(conn: ConnDep) -> ChainOut:
    """Check the hash chain from the first entry; name the first broken one."""
    return ChainOut(**audit.verify(conn).__dict__)
