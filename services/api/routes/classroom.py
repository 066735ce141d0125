"""The classroom: the teacher's controls of the simulator, the camera wall, replay, debrief.

Controls are published on the simulator's control topic and acknowledged by it; its retained
state is what ``GET /classroom/status`` shows. Every control is written to the audit log. The
camera wall and the debrief read the run's ground truth, which only the teacher may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, select

from services.api.deps import (
    ConnDep,
    CurrentUser,
    EngineDep,
    LinkDep,
    SettingsDep,
    active_id,
)
from services.api.release import ReleaseDep
from services.api.routes.town import _town_json
from services.api.schemas.classroom import Inject, Jump, Speed
from services.api.schemas.common import Refusal
from services.auth.users import User
from services.classroom import debrief as debrief_html
from services.classroom.link import SimulatorLink
from services.classroom.replay import frame
from services.classroom.truth import TruthIndex, index_for
from services.classroom.wall import camera_wall
from services.config import Settings
from services.events.scenarios import ScenarioError, load_scenario, scenario_names
from services.events.town import AQKOL_TZ
from services.paths import child
from services.store import repo
from services.store.models import events
from services.transparency import audit

router = APIRouter(prefix="/classroom", tags=["classroom"])

# a control goes through the broker to the simulator; either may be away in a classroom
CONTROL_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Refusal, "description": "the broker cannot be reached"},
    504: {"model": Refusal, "description": "the simulator did not answer"},
}

SPEEDS = (1, 10, 60, 600)  # the speeds a lesson uses; "max" is for jumps
ACK_WAIT_S = 8.0
TRUTH_LABEL = "ground truth, teacher only: the command center never sees it"


def _state(link: SimulatorLink) -> dict[str, Any] | None:
    try:
        return link.current()
    except OSError:
        return None


def run_dir(link: SimulatorLink, settings: Settings) -> Path | None:
    """The current run's folder, as the simulator reports it."""
    state = _state(link)
    if not state or not state.get("run_id"):
        return None
    # the state is a message: its run id is a name under runs/, or no folder at all
    return child(Path(settings.runs_dir), state["run_id"])


def truth(link: SimulatorLink, settings: Settings) -> TruthIndex | None:
    """The current run's ground truth, if its folder is readable here."""
    folder = run_dir(link, settings)
    return index_for(folder) if folder is not None and folder.is_dir() else None


@dataclass(frozen=True)
class Controls:
    """The teacher's line to the simulator: every control audited, sent, and acknowledged."""

    link: SimulatorLink
    engine: Engine
    user: User

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """Audit, publish, and answer with the simulator's acknowledgement and state."""
        audit.append(self.engine, self.user.username, self.user.role,
                     f"classroom.{body['command']}", "simulator", body)  # fmt: skip
        try:
            ack = self.link.send(body, ACK_WAIT_S)
        except OSError as exc:
            raise HTTPException(503, f"the simulator cannot be reached: {exc}") from None
        if ack is None:
            raise HTTPException(504, "the simulator did not answer (is it running?)")
        if ack.get("state") == "error":
            raise HTTPException(422, f"the simulator refused: {ack.get('error')}")
        return {"ack": ack, "state": self.link.current(0)}


def controls(link: LinkDep, engine: EngineDep, user: CurrentUser) -> Controls:
    """The logged-in teacher's controls."""
    return Controls(link, engine, user)


ControlsDep = Annotated[Controls, Depends(controls)]


@router.get("/status")
def status(conn: ConnDep, link: LinkDep) -> dict[str, Any]:
    """The simulator's own report (paused or running, speed, simulated time, run) and the
    span of simulated time the store holds (for the timeline)."""
    first = conn.execute(select(func.min(events.c.ts))).scalar()
    newest = repo.sim_time(conn)
    span = {"stored_first": first.isoformat() if first else None,
            "stored_newest": newest.isoformat() if newest else None, "speeds": SPEEDS}  # fmt: skip
    state = _state(link)
    if state is None:
        return {"state": "unknown", "reason": "no report from the simulator", **span}
    return {**state, **span}


@router.post("/pause", responses=CONTROL_RESPONSES)
def pause(controls: ControlsDep) -> dict[str, Any]:
    """Pause the town (after the event in flight)."""
    return controls.send({"command": "pause"})


@router.post("/resume", responses=CONTROL_RESPONSES)
def resume(controls: ControlsDep) -> dict[str, Any]:
    """Resume the town."""
    return controls.send({"command": "resume"})


@router.post("/speed", responses=CONTROL_RESPONSES)
def speed(controls: ControlsDep, body: Speed) -> dict[str, Any]:
    """Set the speed: simulated seconds per real second (1, 10, 60, 600), or max."""
    if body.value != "max" and body.value <= 0:
        raise HTTPException(422, "speed must be positive")
    return controls.send({"command": "speed", "value": body.value})


def jump_target(to: str, now: datetime | None) -> datetime:
    """``HH:MM`` on the simulated day of ``now``, or an ISO time with its offset."""
    try:
        hhmm = time.fromisoformat(to)
    except ValueError:
        hhmm = None
    if hhmm is not None and len(to) <= 8:
        if now is None:
            raise HTTPException(422, "no simulated time yet: give a full ISO time")
        local = now.astimezone(AQKOL_TZ)
        return local.replace(hour=hhmm.hour, minute=hhmm.minute, second=0, microsecond=0)
    try:
        when = datetime.fromisoformat(to)
    except ValueError:
        raise HTTPException(422, f"not a time: {to!r} (HH:MM or ISO with offset)") from None
    if when.tzinfo is None:
        raise HTTPException(422, "the time needs a UTC offset, e.g. 2026-01-15T12:00+06:00")
    return when


@router.post("/jump", responses=CONTROL_RESPONSES)
def jump(conn: ConnDep, controls: ControlsDep, body: Jump) -> dict[str, Any]:
    """Fast-forward to a later time: the town is published at full speed up to it."""
    state = _state(controls.link) or {}
    now_s = state.get("sim_time")
    now = datetime.fromisoformat(now_s) if now_s else repo.sim_time(conn)
    target = jump_target(body.to, now)
    if now is not None and target <= now:
        raise HTTPException(
            422, "a jump goes forward only: to see an earlier time, use the timeline (replay)"
        )
    return controls.send({"command": "jump", "to": target.isoformat()})


@router.get("/scenarios")
def scenarios() -> dict[str, Any]:
    """The scenarios whose incidents can be injected."""
    items: list[dict[str, Any]] = []
    for name in scenario_names():
        try:
            sc = load_scenario(name)
        except ScenarioError as exc:
            items.append({"name": name, "refused": str(exc)})
            continue
        items.append({"name": name, "description": sc.description,
                      "incidents": [i.type for i in sc.incidents]})  # fmt: skip
    return {"items": items}


@router.post("/inject", responses=CONTROL_RESPONSES)
def inject(controls: ControlsDep, body: Inject) -> dict[str, Any]:
    """Play a scenario's incidents from a minute from now."""
    if body.scenario not in scenario_names():
        raise HTTPException(422, f"no such scenario (known: {', '.join(scenario_names())})")
    return controls.send({"command": "inject", "scenario": body.scenario})


@router.post("/reset", responses=CONTROL_RESPONSES)
def reset(controls: ControlsDep) -> dict[str, Any]:
    """Start the town over from its seed, with an empty store of the run (``aqkol up``)."""
    return controls.send({"command": "reset"})


@router.get("/cameras")
def cameras(
    conn: ConnDep,
    link: LinkDep,
    settings: SettingsDep,
    window_min: Annotated[int, Query(ge=1, le=24 * 60)] = 15,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The camera wall: per camera its latest count, objects and watch-list matches, each
    match with whether it was true (ground truth, teacher only)."""
    if until is not None and until.tzinfo is None:
        raise HTTPException(422, "until needs a UTC offset")
    idx = truth(link, settings)
    wall = camera_wall(conn, _town_json().get("cameras") or [], until=until,
                       window_min=window_min, truth=idx)  # fmt: skip
    return {**wall, "truth_label": TRUTH_LABEL}


@router.get("/replay")
def replay(
    conn: ConnDep,
    gate: ReleaseDep,
    at: Annotated[datetime | None, Query(description="simulated time; default: newest")] = None,
    trail_min: Annotated[int, Query(ge=1, le=120)] = 10,
) -> dict[str, Any]:
    """The town at an earlier time, from the store: vehicles and their trails, alerts."""
    if at is not None and at.tzinfo is None:
        raise HTTPException(422, "at needs a UTC offset")
    out = frame(conn, at, trail_min)
    return {**out, "vehicles": gate.events(out["vehicles"]), "alerts": gate.alerts(out["alerts"])}


@router.get("/metrics")
def metrics(conn: ConnDep, link: LinkDep, settings: SettingsDep) -> dict[str, Any]:
    """Privacy figures of the store now, with the truth of its face matches (teacher)."""
    return {**debrief_html.metrics(conn, truth(link, settings)), "truth_label": TRUTH_LABEL}


@router.get("/debrief", response_class=HTMLResponse)
def debrief(
    request: Request,
    conn: ConnDep,
    engine: EngineDep,
    link: LinkDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> HTMLResponse:
    """The session's debrief as one self-contained HTML file."""
    state = _state(link) or {}
    html = debrief_html.render(conn, active_policy=active_id(request, conn),
                               truth=truth(link, settings), run_id=state.get("run_id"),
                               by=user.username)  # fmt: skip
    audit.append(engine, user.username, user.role, "classroom.debrief",
                 "session", {"run_id": state.get("run_id")})  # fmt: skip
    stamp = datetime.now(AQKOL_TZ).strftime("%Y%m%d-%H%M")
    return HTMLResponse(
        html,
        headers={"content-disposition": f'attachment; filename="aqkol-debrief-{stamp}.html"'},
    )
