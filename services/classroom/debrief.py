"""The debrief of a session: one self-contained HTML file (no outside assets, no script).

Alerts with who acknowledged and cleared them, identity reveals and teacher actions from the
audit log, the policy in force and its history, and privacy figures: what the store holds that
points at people, and how many of the watch-list matches were true (from the ground truth,
which the command center never saw).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from html import escape
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from services.classroom.truth import TruthIndex
from services.events.town import MISUSE_WATCHLISTS
from services.policy.active import history
from services.store import repo
from services.store.models import alerts, events
from services.transparency import audit

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#111;
line-height:1.4}h1{margin-bottom:0}h2{border-bottom:2px solid #333;margin-top:1.8em}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border:1px solid #bbb;
padding:4px 6px;text-align:left;vertical-align:top}th{background:#eee}.misuse{color:#a00;
font-weight:700}.note{color:#555}.figure{font-size:28px;font-weight:800}
.figures{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}.card{border:1px solid
#bbb;border-radius:8px;padding:10px}
"""
REVEAL_ACTIONS = ("reveal", "reveal.refused", "reveal.read", "citizen.reveal")


def _t(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="note">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def metrics(conn: Connection, truth: TruthIndex | None) -> dict[str, Any]:
    """Privacy figures of the store now (and the truth of its face matches, if given)."""
    by_kind = repo.counts_by_kind(conn)
    identifying = audit.identifying_kinds()
    matches = conn.execute(
        select(events.c.id, events.c.data).where(events.c.kind == "camera.face_match")
    ).all()
    lists: Counter[str] = Counter()
    verdict: Counter[str] = Counter()
    false_by_group: Counter[str] = Counter()
    for eid, data in matches:
        d = orjson.loads(data) if isinstance(data, str | bytes) else (data or {})
        lists[str(d.get("watchlist"))] += 1
        t = truth.get(eid) if truth is not None else None
        if t is None or t.get("true_match") is None:
            verdict["unknown"] += 1
        elif t["true_match"]:
            verdict["true"] += 1
        else:
            verdict["false"] += 1
            false_by_group[f"{t.get('sex', '?')} {t.get('age_group', '?')}"] += 1
    return {
        "events": sum(by_kind.values()),
        "by_kind": by_kind,
        "identifying_events": sum(n for k, n in by_kind.items() if k in identifying),
        "face_matches": len(matches),
        "by_watchlist": dict(lists),
        "matches_true": verdict["true"],
        "matches_false": verdict["false"],
        "matches_unknown": verdict["unknown"],
        "false_by_group": dict(sorted(false_by_group.items())),
        "truth": truth is not None,
    }


def render(
    conn: Connection, *, active_policy: str, truth: TruthIndex | None, run_id: str | None,
    by: str,
) -> str:  # fmt: skip
    """The debrief as one HTML document."""
    m = metrics(conn, truth)
    first = conn.execute(select(func.min(events.c.ts))).scalar()
    newest = repo.sim_time(conn)
    arows = conn.execute(select(alerts).order_by(alerts.c.first_seen)).all()
    alert_rows = []
    for a in arows:
        title = escape(a.title) + (' <span class="misuse">MISUSE demonstration</span>'
                                   if a.misuse else "")  # fmt: skip
        alert_rows.append([
            escape(a.rule), title, escape(a.severity), escape(a.state), _t(a.first_seen),
            _t(a.last_seen), a.count,
            escape(f"{_t(a.acknowledged_by)} at {_t(a.acknowledged_at)}")
            if a.acknowledged_by else "–",
            escape(f"{_t(a.cleared_by)}: {_t(a.clear_reason)}") if a.cleared_by else "–",
        ])  # fmt: skip
    log = audit.acts(conn)  # every reveal and control, however many reads were logged
    reveals = [e for e in log if e["action"] in REVEAL_ACTIONS]
    teacher = [e for e in log if str(e["action"]).startswith("classroom.")]
    reveal_rows = [
        [_t(e["at"]), escape(e["actor"]), escape(e["role"]), escape(e["action"]),
         escape(e["target"]), escape(orjson.dumps(e["detail"]).decode()[:400])]
        for e in reversed(reveals)
    ]  # fmt: skip
    teacher_rows = [
        [_t(e["at"]), escape(e["actor"]), escape(e["action"]),
         escape(orjson.dumps(e["detail"]).decode()[:200])]
        for e in reversed(teacher)
    ]  # fmt: skip
    pol_rows = [
        [_t(h["activated_at"]), _t(h["sim_time"]), escape(h["policy"]),
         escape(h["activated_by"]), escape(h["note"] or "")]
        for h in history(conn)
    ]  # fmt: skip
    lists = ", ".join(
        f"{escape(k)}: {n}" + (" (MISUSE demonstration)" if k in MISUSE_WATCHLISTS else "")
        for k, n in sorted(m["by_watchlist"].items())
    )
    truth_note = (
        "Ground truth from the simulator's run folder: the command center never sees it."
        if m["truth"] else "No ground truth was available for this run."
    )  # fmt: skip
    groups = ", ".join(f"{escape(g)}: {n}" for g, n in m["false_by_group"].items()) or "–"
    kinds = _table(["kind", "events stored"],
                   [[escape(k), f"{n:,}"] for k, n in sorted(m["by_kind"].items())],
                   "Nothing stored.")  # fmt: skip
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aqkol debrief</title>
<style>{STYLE}</style></head><body>
<h1>Aqkol sandbox: session debrief</h1>
<p class="note">Synthetic town, synthetic people. Exported {escape(now)} by {escape(by)};
run {escape(run_id or "unknown")}; simulated time {_t(first)} to {_t(newest)}.</p>
<h2>Privacy figures now</h2>
<div class="figures">
<div class="card"><div class="figure">{m["events"]:,}</div>events stored</div>
<div class="card"><div class="figure">{m["identifying_events"]:,}</div>events that point at a
person (identifier or sensitive fields)</div>
<div class="card"><div class="figure">{m["face_matches"]:,}</div>watch-list face matches
stored ({lists or "none"})</div>
<div class="card"><div class="figure">{m["matches_true"]:,} / {m["matches_false"]:,}</div>
matches true / false ({m["matches_unknown"]:,} unknown)</div>
</div>
<p>{escape(truth_note)} False matches by sex and age group: {groups}.</p>
{kinds}
<h2>Data-minimization policy</h2>
<p>In force at export: <b>{escape(active_policy)}</b>.</p>
{
        _table(
            ["switched (wall clock)", "town time", "policy", "by", "note"],
            pol_rows,
            "No switch: the default policy was in force all session.",
        )
    }
<h2>Alerts</h2>
{
        _table(
            [
                "rule",
                "title",
                "severity",
                "state",
                "first seen",
                "last seen",
                "count",
                "acknowledged",
                "cleared",
            ],
            alert_rows,
            "No alerts were raised.",
        )
    }
<h2>Identity reveals</h2>
{
        _table(
            ["at", "who", "role", "action", "pseudonym", "detail"],
            reveal_rows,
            "Nobody asked to re-identify a pseudonym.",
        )
    }
<h2>Teacher actions</h2>
{_table(["at", "who", "action", "detail"], teacher_rows, "None.")}
</body></html>
"""
