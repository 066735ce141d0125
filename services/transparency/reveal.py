"""Identity reveal: re-linking a pseudonym to what it stands for is an explicit, audited act.

It needs a written justification, a legal-basis category and an expiry. The grant lets its
requester read the original value until it expires; the reveal and every later read go into
the audit log (with the justification, never with the original value).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

# the request's shape is the API's (one definition): the legal bases and the shortest
# justification a request may give
from services.api.schemas.reveal import MIN_JUSTIFICATION as MIN_JUSTIFICATION
from services.api.schemas.reveal import LegalBasis as LegalBasis
from services.store.models import pseudonym_escrow, reveal_grants
from services.transparency import audit

MAX_GRANT = timedelta(days=30)


class RevealRefused(Exception):
    """A reveal that cannot be granted; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Revealed:
    """A granted reveal and the value behind the pseudonym."""

    grant_id: int
    pseudonym: str
    original: str
    field: str
    period: str
    policy: str
    legal_basis: str
    expires_at: datetime
    audit_id: int


def _escrow(engine: Engine, pseudonym: str):
    with engine.connect() as conn:
        return conn.execute(
            select(pseudonym_escrow).where(pseudonym_escrow.c.pseudonym == pseudonym)
        ).first()


def request_reveal(
    engine: Engine,
    *,
    actor: str,
    role: str,
    pseudonym: str,
    justification: str,
    legal_basis: LegalBasis,
    expires_at: datetime,
    now: datetime | None = None,
) -> Revealed:
    """Grant a reveal and return the original value; every attempt is audited."""
    now = now or datetime.now(UTC)
    detail = {
        "pseudonym": pseudonym,
        "justification": justification,
        "legal_basis": legal_basis.value,
        "expires_at": expires_at.astimezone(UTC).isoformat(),
    }
    if expires_at <= now:
        raise RevealRefused(422, "expires_at must be in the future")
    if expires_at - now > MAX_GRANT:
        raise RevealRefused(422, f"a grant lasts at most {MAX_GRANT.days} days")
    row = _escrow(engine, pseudonym)
    if row is None:
        audit.append(engine, actor, role, "reveal.refused", pseudonym, detail | {"why": "unknown"})
        raise RevealRefused(404, f"no pseudonym {pseudonym!r} in the escrow")
    detail |= {"field": row.field, "period": row.period, "policy": row.policy}
    audit_id = audit.append(engine, actor, role, "reveal", pseudonym, detail)
    with engine.begin() as conn:
        grant_id = conn.execute(
            insert(reveal_grants).values(
                created_at=now,
                requested_by=actor,
                role=role,
                pseudonym=pseudonym,
                justification=justification,
                legal_basis=legal_basis.value,
                expires_at=expires_at,
                audit_id=audit_id,
            )
        ).inserted_primary_key[0]
    return Revealed(
        grant_id,
        pseudonym,
        row.original,
        row.field,
        row.period,
        row.policy,
        legal_basis.value,
        expires_at.astimezone(UTC),
        audit_id,
    )


def read_grant(
    engine: Engine, grant_id: int, *, actor: str, role: str, now: datetime | None = None
) -> Revealed:
    """The original value again, for the grant's requester, while the grant lasts (audited)."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        g = conn.execute(select(reveal_grants).where(reveal_grants.c.id == grant_id)).first()
    if g is None or g.requested_by != actor:
        raise RevealRefused(404, f"no grant {grant_id} of yours")
    detail = {"grant": grant_id, "legal_basis": g.legal_basis}
    if g.expires_at <= now:
        audit.append(
            engine, actor, role, "reveal.refused", g.pseudonym, detail | {"why": "expired"}
        )
        raise RevealRefused(410, f"grant {grant_id} expired at {g.expires_at.isoformat()}")
    row = _escrow(engine, g.pseudonym)
    if row is None:
        raise RevealRefused(410, f"the escrow no longer holds {g.pseudonym!r}")
    audit_id = audit.append(engine, actor, role, "reveal.read", g.pseudonym, detail)
    return Revealed(
        g.id,
        g.pseudonym,
        row.original,
        row.field,
        row.period,
        row.policy,
        g.legal_basis,
        g.expires_at,
        audit_id,
    )


def grants(engine: Engine, limit: int = 200) -> list[dict]:
    """The newest grants first (no original values), for oversight."""
    with engine.connect() as conn:
        rows = conn.execute(select(reveal_grants).order_by(reveal_grants.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]
