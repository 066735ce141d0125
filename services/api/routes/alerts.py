"""Alerts raised by the rules, and their lifecycle: acknowledge, assign, clear."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine, select

from services.api.deps import ConnDep, EngineDep
from services.api.release import ReleaseDep
from services.api.schemas.alerts import AlertAction, AlertActionResult, AlertList, AlertOut
from services.rules import alerts as lifecycle
from services.store import repo
from services.store.models import alerts
from services.transparency import audit

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=AlertList)
def list_alerts(
    conn: ConnDep,
    gate: ReleaseDep,
    state: Literal["active", "acknowledged", "cleared", "open"] | None = None,
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AlertList:
    """Retrieve alerts, most recently seen first (``open``: active or acknowledged).

    Students receive no alert keys or details, and no place for an alert about a person."""
    items = []
    for r in repo.alert_rows(conn, state, limit, rule):
        m = dict(r._mapping)
        geo = {"lat": m.pop("lat"), "lon": m.pop("lon")}
        m["geo"] = geo if geo["lat"] is not None else None
        items.append(AlertOut(**gate.alert(m)))
    return AlertList(items=items)


def _actor(request: Request, action: AlertAction) -> str:
    """Who acts: the logged-in user (a body's ``by`` cannot speak for someone else)."""
    user = getattr(request.state, "user", None)
    return user.username if user is not None else action.by


def _targets(engine: Engine, action: AlertAction) -> list[int]:
    ids = list(action.ids)
    if action.rule:
        with engine.connect() as conn:
            ids += conn.execute(
                select(alerts.c.id).where(
                    alerts.c.rule == action.rule, alerts.c.state.in_(lifecycle.OPEN_STATES)
                )
            ).scalars().all()  # fmt: skip
    return ids


def _record(
    request: Request, engine: Engine, act: str, action: AlertAction, changed: list[int]
) -> None:
    detail = {"ids": changed, "rule": action.rule, "assignee": action.assignee,
              "reason": action.reason}  # fmt: skip
    audit.record(request.state, engine, f"alert.{act}", "alerts",
                 {k: v for k, v in detail.items() if v})  # fmt: skip


@router.post("/acknowledge", response_model=AlertActionResult)
def acknowledge(request: Request, engine: EngineDep, action: AlertAction) -> AlertActionResult:
    """Acknowledge active alerts (by ids, or all open alerts of a rule); sets the assignee
    if given. Alerts already acknowledged or cleared are left as they are."""
    ids = _targets(engine, action)
    with engine.begin() as conn:
        changed = lifecycle.acknowledge(conn, ids, _actor(request, action), action.assignee)
    _record(request, engine, "acknowledge", action, changed)
    return AlertActionResult(changed=changed)


@router.post("/clear", response_model=AlertActionResult)
def clear(request: Request, engine: EngineDep, action: AlertAction) -> AlertActionResult:
    """Clear open alerts (by ids, or all open alerts of a rule), with an optional reason."""
    ids = _targets(engine, action)
    with engine.begin() as conn:
        changed = lifecycle.clear(conn, ids, _actor(request, action), action.reason)
    _record(request, engine, "clear", action, changed)
    return AlertActionResult(changed=changed)


@router.post("/assign", response_model=AlertActionResult)
def assign(request: Request, engine: EngineDep, action: AlertAction) -> AlertActionResult:
    """Set (or with no assignee, remove) the assignee of open alerts."""
    ids = _targets(engine, action)
    with engine.begin() as conn:
        changed = lifecycle.assign(conn, ids, action.assignee)
    _record(request, engine, "assign", action, changed)
    return AlertActionResult(changed=changed)
