"""The citizen view: everything the command center holds about one resident, under the
active policy. A resident (or someone acting for them) gives their identifiers; the view
finds the events and alerts that carry them, as sent or as the pseudonyms the policy made
of them (the key holder's escrow links the two). Every call is in the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import func, or_, select

from services.api.deps import ConnDep, EngineDep, active_spec
from services.api.schemas.citizen import SAMPLE, CitizenView, KindHeld
from services.api.schemas.reveal import MIN_JUSTIFICATION, LegalBasis
from services.store.models import alerts, events, pseudonym_escrow
from services.store.repo import public_event
from services.transparency import audit

router = APIRouter(prefix="/citizen", tags=["transparency"])
IDENTIFIERS = ("household", "account", "plate", "badge", "enrollment_id")


@router.get("", response_model=CitizenView)
def citizen(
    request: Request,
    conn: ConnDep,
    engine: EngineDep,
    justification: Annotated[
        str, Query(min_length=MIN_JUSTIFICATION, max_length=2000, description="why, in a sentence")
    ],
    legal_basis: LegalBasis,
    household: str | None = None,
    account: str | None = None,
    plate: str | None = None,
    badge: str | None = None,
    enrollment_id: str | None = None,
    meter: str | None = None,
) -> CitizenView:
    """What is held about one resident: give at least one of their identifiers."""
    given = {
        k: v
        for k, v in {
            "household": household, "account": account, "plate": plate, "badge": badge,
            "enrollment_id": enrollment_id, "meter": meter,
        }.items()
        if v
    }  # fmt: skip
    if not given:
        raise HTTPException(
            422, "give at least one identifier: " + ", ".join([*IDENTIFIERS, "meter"])
        )
    originals = set(given.values())
    # the pseudonyms the policies made of them (same field; a meter is a source)
    made = conn.execute(
        select(pseudonym_escrow.c.pseudonym, pseudonym_escrow.c.field).where(
            pseudonym_escrow.c.original.in_(originals)
        )
    ).all()
    values: dict[str, set[str]] = {f: set() for f in (*IDENTIFIERS, "source")}
    for field, v in given.items():
        values["source" if field == "meter" else field].add(v)
    for p, field in made:
        if field in values:
            values[field].add(p)
    conds = []
    if values["source"]:
        conds.append(events.c.source.in_(values["source"]))
    for field in IDENTIFIERS:
        if values[field]:
            conds.append(events.c.data[field].as_string().in_(values[field]))
    where = or_(*conds)
    kinds = []
    for kind, n, first, last in conn.execute(
        select(events.c.kind, func.count(), func.min(events.c.ts), func.max(events.c.ts))
        .where(where)
        .group_by(events.c.kind)
    ):
        one = conn.execute(select(events.c.data).where(where, events.c.kind == kind).limit(1))
        data = one.scalar_one()
        kinds.append(KindHeld(kind=kind, events=n, first=first, last=last, fields=sorted(data)))
    newest = conn.execute(select(events).where(where).order_by(events.c.ts.desc()).limit(SAMPLE))
    keys = set().union(*values.values())
    held_alerts = conn.execute(
        select(alerts).where(or_(alerts.c.dedup_key.in_(keys), alerts.c.source.in_(keys)))
    ).all()
    audit.record(request.state, engine, "citizen.reveal", "citizen", {
        "justification": justification, "legal_basis": legal_basis.value,
        "identifiers": sorted(given), "pseudonyms": len(made),
        "events": sum(k.events for k in kinds), "alerts": len(held_alerts),
    })  # fmt: skip
    return CitizenView(
        policy=active_spec(request, conn).id,
        identifiers=given,
        pseudonyms=len(made),
        kinds=kinds,
        events=[public_event(r) for r in newest],
        alerts=[dict(a._mapping) for a in held_alerts],
    )
