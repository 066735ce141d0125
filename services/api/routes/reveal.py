"""Identity reveal: a pseudonym back to what it stands for, with a justification, a legal
basis and an expiry; audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.api.deps import CurrentUser, EngineDep
from services.api.schemas.common import RowId
from services.api.schemas.reveal import GrantList, GrantOut, RevealOut, RevealRequest
from services.transparency import reveal as rv

router = APIRouter(prefix="/reveal", tags=["reveal"])


def _out(r: rv.Revealed) -> RevealOut:
    return RevealOut(**r.__dict__)


@router.post("", response_model=RevealOut)
def reveal(body: RevealRequest, user: CurrentUser, engine: EngineDep) -> RevealOut:
    """Re-identify a pseudonym; the grant and its justification go into the audit log."""
    try:
        done = rv.request_reveal(
            engine,
            actor=user.username,
            role=user.role,
            pseudonym=body.pseudonym,
            justification=body.justification,
            legal_basis=body.legal_basis,
            expires_at=body.expires_at,
        )
    except rv.RevealRefused as exc:
        raise HTTPException(exc.status, exc.message) from None
    return _out(done)


@router.get("/{grant_id}", response_model=RevealOut)
def read_grant(grant_id: RowId, user: CurrentUser, engine: EngineDep) -> RevealOut:
    """Read one of your grants again while it lasts (audited); 410 once it expired."""
    try:
        return _out(rv.read_grant(engine, grant_id, actor=user.username, role=user.role))
    except rv.RevealRefused as exc:
        raise HTTPException(exc.status, exc.message) from None


@router.get("", response_model=GrantList)
def list_grants(engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> GrantList:
    """Retrieve the reveal grants, newest first (without the revealed values)."""
    return GrantList(items=[GrantOut(**g) for g in rv.grants(engine, limit)])
