"""Identity reveal: a pseudonym back to what it stands for, with a justification, a legal
basis and an expiry; audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field

from services.api.deps import CurrentUser, EngineDep
from services.api.schemas import RowId
from services.transparency import reveal as rv

router = APIRouter(prefix="/reveal", tags=["reveal"])


class RevealRequest(BaseModel):
    pseudonym: str = Field(min_length=1, max_length=64)
    justification: str = Field(
        min_length=rv.MIN_JUSTIFICATION,
        max_length=2000,
        description="why this person must be re-identified, in a sentence or more",
    )
    legal_basis: rv.LegalBasis
    expires_at: AwareDatetime = Field(description="until when the grant holds (with offset)")


class RevealOut(BaseModel):
    grant_id: int
    pseudonym: str
    original: str
    field: str
    period: str
    policy: str
    legal_basis: str
    expires_at: datetime
    audit_id: int


class GrantOut(BaseModel):
    id: int
    created_at: datetime
    requested_by: str
    role: str
    pseudonym: str
    justification: str
    legal_basis: str
    expires_at: datetime
    audit_id: int


class GrantList(BaseModel):
    items: list[GrantOut]


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
