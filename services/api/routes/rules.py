"""Alert rules: list them with their state, read and save a rule's YAML, validate as you type,
and see what a rule would have done today (a replay of the stored day through it)."""

from __future__ import annotations

import hashlib
import time as clock
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from sqlalchemy import Connection

from services.api.deps import (
    ConnDep,
    CurrentUser,
    EngineDep,
    PreviewGateDep,
    RuleBookDep,
    SettingsDep,
    active_spec,
)
from services.api.release import ReleaseDep
from services.api.schemas.rules import (
    Preview,
    PreviewAlert,
    RuleList,
    RuleOut,
    RuleProblem,
    Validation,
)
from services.config import Settings
from services.events.town import UTC_OFFSET_HOURS
from services.events.yamldoc import YamlFileError
from services.policy.apply import Minimizer
from services.policy.audience import Gate
from services.rules.book import RuleBook
from services.rules.engine import Event, RuleEngine
from services.rules.replay import replay_events
from services.rules.spec import CompiledRule, RuleError, parse_rule
from services.store import repo
from services.transparency import audit

router = APIRouter(prefix="/rules", tags=["rules"])
AQKOL_TZ_OFFSET = timedelta(hours=UTC_OFFSET_HOURS)


def _policy(request: Request, conn: Any) -> Minimizer:
    """The active policy, as the ingest applies it (rules it blinds are shown so)."""
    return Minimizer(active_spec(request, conn))


def _problem(exc: YamlFileError) -> RuleProblem:
    return RuleProblem(file=Path(exc.file).name, line=exc.line, message=exc.reason)


def _out(
    path: Path,
    rule: CompiledRule | None,
    error: YamlFileError | None,
    counts: dict[str, dict[str, int]],
    status: dict[str, dict[str, Any]],
    live_status: dict[str, dict[str, Any]] | None = None,
) -> RuleOut:
    if rule is None:
        return RuleOut(
            id=path.stem, file=path.name, state="refused", error=_problem(error) if error else None
        )
    spec = rule.spec
    st = status.get(rule.id, {})
    live = live_status.get(rule.id, {}) if live_status else {}
    return RuleOut(
        id=rule.id,
        file=path.name,
        title=spec.title,
        description=spec.description,
        severity=spec.severity,
        purpose=spec.purpose,
        misuse=spec.misuse,
        kinds=spec.kinds,
        needs=rule.needs,
        state=st.get("state", "active" if spec.enabled else "disabled"),
        reason=st.get("reason"),
        error=_problem(error) if error else None,
        alerts=counts.get(rule.id, {}),
        evaluations=live.get("evaluations", 0),
        matches=live.get("matches", 0),
        errors=live.get("errors", 0),
        last_error=live.get("last_error"),
        translations={
            lang: text.model_dump(exclude_none=True) for lang, text in spec.translations.items()
        },
    )


@router.get("", response_model=RuleList)
def list_rules(request: Request, conn: ConnDep, book: RuleBookDep) -> RuleList:
    """Every rule file: its rule in force, state, alerts by state, and any refusal."""
    counts = repo.alert_counts_by_rule(conn)
    status = {s["id"]: s for s in RuleEngine(book.rules, _policy(request, conn)).status()}
    live = repo.rule_status_totals(conn)
    return RuleList(
        items=[_out(f["path"], f["item"], f["error"], counts, status, live) for f in book.files()]
    )


@router.get("/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: str, request: Request, conn: ConnDep, book: RuleBookDep) -> RuleOut:
    """One rule, with the YAML text of its file."""
    return _one(rule_id, request, conn, book)


def _one(rule_id: str, request: Request, conn: Connection, book: RuleBook) -> RuleOut:
    found = book.get(rule_id)
    if found is None:
        raise HTTPException(404, f"no rule {rule_id!r}")
    path, rule, error = found
    status = {
        s["id"]: s for s in RuleEngine([rule] if rule else [], _policy(request, conn)).status()
    }
    counts = repo.alert_counts_by_rule(conn)
    out = _out(path, rule, error, counts, status, repo.rule_status_totals(conn))
    out.text = path.read_text(encoding="utf-8")
    return out


@router.post("/validate", response_model=Validation)
def validate(text: str = Body(..., media_type="text/plain")) -> Validation:
    """Check a rule's YAML as it is typed: the first problem with its line, or ok."""
    try:
        rule = parse_rule(text, "editor")
    except RuleError as exc:
        return Validation(ok=False, error=_problem(exc))
    return Validation(ok=True, needs=rule.needs)


@router.put("/{rule_id}", response_model=RuleOut)
def save_rule(
    rule_id: str,
    request: Request,
    conn: ConnDep,
    engine: EngineDep,
    book: RuleBookDep,
    text: str = Body(..., media_type="text/plain"),
) -> RuleOut:
    """Save a rule's YAML (new or changed). The ingest takes it up at its next batch.

    A text that does not validate is refused (422, with line and reason) and nothing is
    written: the version in force stays.
    """
    try:
        book.save(rule_id, text)
    except RuleError as exc:
        raise HTTPException(422, _problem(exc).model_dump()) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    audit.record(request.state, engine, "rule.save", rule_id,
                 {"sha256": digest, "text": text[:2000]})  # fmt: skip
    book.refresh()
    return _one(rule_id, request, conn, book)


@router.post(
    "/preview",
    response_model=Preview,
    responses={429: {"description": "a preview of yours (or too many of the class) is running"}},
)
def preview(
    request: Request,
    conn: ConnDep,
    user: CurrentUser,
    gate: ReleaseDep,
    settings: SettingsDep,
    slots: PreviewGateDep,
    text: str = Body(..., media_type="text/plain"),
    day: datetime | None = None,
) -> Preview:
    """What this rule (YAML, saved or not) would have done today: the stored events of the
    simulated day so far (or of ``day``), replayed through it, and the alerts it raises.

    Bounded, since every student may call it: one simulated day at most, the first
    ``AQKOL_PREVIEW_MAX_EVENTS`` events, ``AQKOL_PREVIEW_SECONDS`` of replay (the answer
    then says where it stopped), and a few previews at a time (429 with the reason).
    """
    try:
        rule = parse_rule(text, "editor")
    except RuleError as exc:
        raise HTTPException(422, _problem(exc).model_dump()) from None
    with slots.slot(user.username):
        return _preview(request, conn, rule, day, settings, gate)


def _preview(
    request: Request,
    conn: Any,
    rule: CompiledRule,
    day: datetime | None,
    settings: Settings,
    gate: Gate,
) -> Preview:
    until = day or repo.sim_time(conn)
    if until is None:
        return Preview(rule=rule.id, since=None, until=None, events=0, truncated=False,
                       alerts=[], state="active")  # fmt: skip
    local = until + AQKOL_TZ_OFFSET  # the town's day runs from local midnight
    since = datetime.combine(local.date(), time(0), tzinfo=until.tzinfo) - AQKOL_TZ_OFFSET
    until = until + timedelta(microseconds=1)
    policy = _policy(request, conn)
    engine = RuleEngine([rule], policy)
    kinds = sorted(set(engine.by_kind) | engine.context_kinds)
    cap, seconds = settings.preview_max_events, settings.preview_seconds
    deadline = clock.monotonic() + seconds
    stopped: list[str] = []
    town = timezone(AQKOL_TZ_OFFSET)  # stored in UTC; rules see the town's time, as live

    # the replay reads only what the caller may receive: a student's rule cannot serve as an
    # oracle on identities (``data.name == ...``) it may not see. Kinds the caller may not
    # receive are left in the store; fields it may not see are stripped row by row below.
    allowed = gate.kinds(None)  # None: every kind
    if allowed is not None:
        kinds = [k for k in kinds if k in allowed]
    strip = None if gate.event_level else gate.event

    def events() -> Any:
        rows = repo.iter_events(conn, kinds, since, until, cap + 1) if kinds else ()
        for i, r in enumerate(rows):
            if i >= cap:
                stopped.append(f"the first {cap:,} events only (AQKOL_PREVIEW_MAX_EVENTS)")
                return
            if i % 512 == 0 and clock.monotonic() > deadline:
                stopped.append(f"the events of the first {seconds:g} s (AQKOL_PREVIEW_SECONDS)")
                return
            source, data = r.source, r.data or {}
            if strip is not None:
                e = strip({"id": r.id, "kind": r.kind, "source": source, "data": data})
                if e is None:
                    continue
                source, data = e["source"], e["data"]
            data = {k: v for k, v in data.items() if v is not None}
            yield Event.make(r.id, r.kind, source, r.ts.astimezone(town), data, r.lat, r.lon)

    reports, n = replay_events([rule], events(), [], policy)
    rep = reports[rule.id]
    return Preview(
        rule=rule.id,
        since=since,
        until=until,
        events=n,
        truncated=bool(stopped),
        stopped=stopped[0] if stopped else None,
        alerts=[PreviewAlert(**gate.alert(_alert_fields(j.alert))) for j in rep.alerts],
        state=rep.status["state"],
        reason=rep.status.get("reason"),
        errors=rep.status["errors"],
        last_error=rep.status["last_error"],
    )


def _alert_fields(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in PreviewAlert.model_fields}
