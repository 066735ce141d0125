"""Rule tests in the style of Home Assistant's: a rule config, a stream of events, the alerts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.rules.alerts import apply_candidates, auto_clear
from services.rules.book import RULES_DIR
from services.rules.engine import Candidate, Event, RuleEngine
from services.rules.spec import CompiledRule, parse_rule
from services.store.db import make_engine, migrate
from services.store.models import alerts
from tests.factories import T0, make_event

STARTER = RULES_DIR


def starter(rule_id: str) -> CompiledRule:
    path = STARTER / f"{rule_id}.yaml"
    return parse_rule(path.read_text(encoding="utf-8"), str(path))


def rule(text: str) -> CompiledRule:
    return parse_rule(text, "test-rule.yaml")


def ev(kind: str, source: str, minute: float, data: dict[str, Any] | None = None, **kw) -> Event:
    """An event at ``minute`` minutes after T0, through the contract's JSON form."""
    return Event.from_dict(make_event(kind, source, T0 + timedelta(minutes=minute), data, **kw))


def candidates(rules: CompiledRule | list[CompiledRule], events: Iterable[Event], policy=None):
    engine = RuleEngine(rules if isinstance(rules, list) else [rules], policy)
    out: list[Candidate] = []
    for e in events:
        out.extend(engine.process(e))
        out.extend(engine.tick())
    return out, engine


def alerts_of(
    rules: CompiledRule | list[CompiledRule], events: Iterable[Event], db: Path
) -> list[dict[str, Any]]:
    """Run events through the rules and the alert lifecycle (batch per event) in SQLite."""
    url = f"sqlite:///{db}"
    migrate(url)
    eng = make_engine(url)
    engine = RuleEngine(rules if isinstance(rules, list) else [rules])
    for e in events:
        cands = engine.process(e) + engine.tick()
        with eng.begin() as conn:
            apply_candidates(conn, cands, engine.alert_meta())
            auto_clear(conn, engine.quiet_periods(), engine.watermark)
    with eng.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(alerts).order_by(alerts.c.id))]
    eng.dispose()
    return rows
