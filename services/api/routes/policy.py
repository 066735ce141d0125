"""Data-minimization policies: which one is active, switch it, its history, the DP budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from services.api.deps import (
    ConnDep,
    EngineDep,
    LinkDep,
    PolicyBookDep,
    SettingsDep,
    active_id,
    active_spec,
)
from services.api.schemas.policy import Budget, HistoryRow, PolicyList, PolicyOut, Switch
from services.policy.active import activate, history
from services.policy.apply import Minimizer, describe_plan
from services.policy.edge import policy_command
from services.policy.release import UNIT, spent, town_day
from services.policy.spec import PolicyError, PolicySpec
from services.store import repo
from services.transparency import audit

router = APIRouter(prefix="/policy", tags=["policy"])


def _out(path: Path, spec: PolicySpec | None, error: Any, active: str) -> PolicyOut:
    if spec is None:
        return PolicyOut(id=path.stem, file=path.name, refused=str(error))
    plan = {k: what for k, what in describe_plan(Minimizer(spec)) if what != "kept as sent"}
    return PolicyOut(
        id=spec.id,
        file=path.name,
        title=spec.title,
        description=spec.description,
        active=spec.id == active,
        refused=str(error) if error else None,
        plan=plan,
        retention=spec.retention.model_dump(),
        biometric=spec.biometric.model_dump(),
        release=spec.release.model_dump(),
    )


@router.get("", response_model=PolicyList)
def list_policies(request: Request, conn: ConnDep, book: PolicyBookDep) -> PolicyList:
    """Every policy file: what it does to each kind, and which one is active."""
    active = active_id(request, conn)
    items = [_out(f["path"], f["item"], f["error"], active) for f in book.files()]
    return PolicyList(active=active, items=items)


@router.get("/history", response_model=list[HistoryRow])
def policy_history(conn: ConnDep) -> list[HistoryRow]:
    """Which policy was active when (newest first)."""
    return [HistoryRow(**h) for h in history(conn)]


@router.put("/active", response_model=HistoryRow)
def switch(
    request: Request,
    conn: ConnDep,
    engine: EngineDep,
    settings: SettingsDep,
    book: PolicyBookDep,
    link: LinkDep,
    body: Switch,
) -> HistoryRow:
    """Make a policy active. Every ingest worker applies it from its next batch."""
    if settings.policy_pinned:
        raise HTTPException(409, f"this store is a comparison lane pinned to {settings.policy}")
    user = getattr(request.state, "user", None)
    by = user.username if user is not None else body.by
    try:
        row = activate(conn, book, body.policy, by, body.note)
    except PolicyError as exc:
        raise HTTPException(422, str(exc)) from None
    conn.commit()
    audit.record(request.state, engine, "policy.switch", body.policy,
                 {"note": body.note} if body.note else {})  # fmt: skip
    # tell the devices the policy's edge part over the control topic (retained, so a
    # simulator started later applies it from its first event); never holds up the switch
    book.refresh()
    link.announce(policy_command(book.spec(body.policy)))
    return HistoryRow(**row)


@router.get("/budget", response_model=Budget)
def budget(request: Request, conn: ConnDep) -> Budget:
    """The differential-privacy budget of the active policy for the town's current day."""
    spec = active_spec(request, conn)
    now = repo.sim_time(conn)
    dp = spec.release.dp
    if dp is None or now is None:
        return Budget(policy=spec.id, day=None, epsilon=None, daily_budget=None, spent=0.0,
                      left=None, unit=UNIT)  # fmt: skip
    day = town_day(now)
    used = spent(conn, spec.id, day)
    return Budget(policy=spec.id, day=day, epsilon=dp.epsilon, daily_budget=dp.daily_budget,
                  spent=used, left=max(0.0, dp.daily_budget - used), unit=dp.unit)  # fmt: skip
