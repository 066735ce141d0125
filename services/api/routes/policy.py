"""Data-minimization policies: which one is active, switch it, its history, the DP budget."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from services.api.deps import ConnDep
from services.policy.active import POLICIES_DIR, PolicyBook, activate, active_policy, history
from services.policy.apply import Minimizer, describe_plan
from services.policy.release import UNIT, Releaser, spent, town_day
from services.policy.spec import REFUSED_RELEASE, PolicyError, PolicySpec
from services.store import repo
from services.transparency import audit

router = APIRouter(prefix="/policy", tags=["policy"])
log = logging.getLogger(__name__)


class PolicyOut(BaseModel):
    id: str
    file: str
    title: str | None = None
    description: str | None = None
    active: bool = False
    refused: str | None = Field(None, description="file:line: reason, if the file is refused")
    plan: dict[str, str] = Field(default_factory=dict, description="kind -> what happens")
    retention: dict[str, Any] | None = None
    biometric: dict[str, Any] | None = None
    release: dict[str, Any] | None = None


class PolicyList(BaseModel):
    active: str
    items: list[PolicyOut]


class Switch(BaseModel):
    policy: str = Field(min_length=1, max_length=64)
    by: str = Field("teacher", min_length=1, max_length=64)
    note: str | None = Field(None, max_length=256)


class HistoryRow(BaseModel):
    id: int
    policy: str
    sha256: str
    activated_at: datetime
    sim_time: datetime | None
    activated_by: str
    note: str | None


class Budget(BaseModel):
    policy: str
    day: str | None
    epsilon: float | None
    daily_budget: float | None
    spent: float
    left: float | None
    unit: str = Field(
        UNIT, description="what one release protects, as the policy states it (event or person)"
    )


def book(request: Request) -> PolicyBook:
    b: PolicyBook | None = getattr(request.app.state, "policybook", None)
    if b is None:
        settings = request.app.state.settings
        b = request.app.state.policybook = PolicyBook(settings.policies_dir or POLICIES_DIR)
    b.refresh()
    return b


def releaser(request: Request) -> Releaser:
    r: Releaser | None = getattr(request.app.state, "releaser", None)
    if r is None:
        r = request.app.state.releaser = Releaser()
    return r


def active_id(request: Request, conn: Any = None) -> str:
    """The id of the policy in force: a lane's pinned one, else the newest switch."""
    settings = request.app.state.settings
    if settings.policy_pinned:
        return settings.policy
    if conn is not None:
        return active_policy(conn, settings.policy)[0]
    with request.app.state.engine.connect() as c:
        return active_policy(c, settings.policy)[0]


def active_spec(request: Request, conn: Any = None) -> PolicySpec:
    """The policy in force (as the ingest sees it). When its file is refused, the releases
    fail closed (:data:`REFUSED_RELEASE`), never open: the ingest holds the stream meanwhile."""
    policy_id = active_id(request, conn)
    try:
        return book(request).spec(policy_id)
    except PolicyError as exc:
        log.error("the active policy %r is refused (%s): releases fail closed", policy_id, exc)
        return REFUSED_RELEASE


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
def list_policies(request: Request, conn: ConnDep) -> PolicyList:
    """Every policy file: what it does to each kind, and which one is active."""
    active = active_id(request, conn)
    items = [_out(f["path"], f["item"], f["error"], active) for f in book(request).files()]
    return PolicyList(active=active, items=items)


@router.get("/history", response_model=list[HistoryRow])
def policy_history(conn: ConnDep) -> list[HistoryRow]:
    """Which policy was active when (newest first)."""
    return [HistoryRow(**h) for h in history(conn)]


@router.put("/active", response_model=HistoryRow)
def switch(request: Request, conn: ConnDep, body: Switch) -> HistoryRow:
    """Make a policy active. Every ingest worker applies it from its next batch."""
    settings = request.app.state.settings
    if settings.policy_pinned:
        raise HTTPException(409, f"this store is a comparison lane pinned to {settings.policy}")
    user = getattr(request.state, "user", None)
    by = user.username if user is not None else body.by
    try:
        row = activate(conn, book(request), body.policy, by, body.note)
    except PolicyError as exc:
        raise HTTPException(422, str(exc)) from None
    conn.commit()
    audit.record(request.state, request.app.state.engine, "policy.switch", body.policy,
                 {"note": body.note} if body.note else {})  # fmt: skip
    announce(request, book(request).spec(body.policy))
    return HistoryRow(**row)


def announce(request: Request, spec: PolicySpec) -> None:
    """Tell the devices the policy's edge part over the control topic (retained, so a
    simulator started later applies it from its first event); never holds up the switch."""
    from services.api.routes.classroom import link
    from services.policy.edge import policy_command

    link(request).announce(policy_command(spec))


@router.get("/budget", response_model=Budget)
def budget(request: Request, conn: ConnDep) -> Budget:
    """The differential-privacy budget of the active policy for the town's current day."""
    spec = active_spec(request, conn)
    now = repo.sim_time(conn)
    dp = spec.release.dp
    if dp is None or now is None:
        return Budget(policy=spec.id, day=None, epsilon=None, daily_budget=None, spent=0.0,
                      left=None)  # fmt: skip
    day = town_day(now)
    used = spent(conn, spec.id, day)
    return Budget(policy=spec.id, day=day, epsilon=dp.epsilon, daily_budget=dp.daily_budget,
                  spent=used, left=max(0.0, dp.daily_budget - used), unit=dp.unit)  # fmt: skip
