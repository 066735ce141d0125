"""Identity reveal: the request with its justification and legal basis, the grant."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

MIN_JUSTIFICATION = 30  # characters: a sentence, not "test"


class LegalBasis(StrEnum):
    """Why a re-identification may be lawful (the categories a request must pick from)."""

    COURT_ORDER = "court_order"
    MISSING_PERSON = "missing_person"
    IMMINENT_THREAT = "imminent_threat"
    SERIOUS_CRIME = "serious_crime"
    CONSENT = "consent"
    DATA_SUBJECT_REQUEST = "data_subject_request"  # the resident's own request (GDPR Art. 15)


class RevealRequest(BaseModel):
    pseudonym: str = Field(min_length=1, max_length=64)
    justification: str = Field(
        min_length=MIN_JUSTIFICATION,
        max_length=2000,
        description="why this person must be re-identified, in a sentence or more",
    )
    legal_basis: LegalBasis
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
