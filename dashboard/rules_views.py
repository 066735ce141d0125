"""Pure builders of the Rules page (rule list, editor messages, preview summary, alert
table), unit-testable without a running app. Every string a user sees on that page is in
``TEXT`` (i18n comes later: translate this one mapping)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from dashboard import fmt
from dashboard.api_client import Fetched
from dashboard.views import severity_class

TEXT: dict[str, str] = {
    "errors": "{n} evaluation errors in the ingest; last: {last}",
    "page_name": "Rules",
    "page_title": "Aqkol · Rules",
    "heading": "Alert rules",
    "intro": (
        "Each rule is a YAML file in rules/. Pick one to read and change it; check what it "
        "would have done today before you save it. Saving takes effect without a restart."
    ),
    "list_title": "Rules",
    "no_rules": "No rules",
    "unreachable": "API unreachable",
    "misuse": "MISUSE demonstration",
    "misuse_hint": "This rule shows how the system can be turned against people.",
    "state_active": "active",
    "state_disabled": "disabled",
    "state_blinded": "blinded by the policy",
    "state_refused": "refused",
    "blinded_reason": "Blinded: {reason}",
    "blinded_default": "the data-minimization policy removes a field it needs",
    "refused_reason": "Refused: {problem}",
    "refused_kept": "The file is refused: {problem}. The previous version stays in force.",
    "no_alerts_yet": "no alerts",
    "alert_count": "{n} {state}",
    "purpose": "purpose: {purpose}",
    "editor_title": "Editor",
    "editor_none": "Select a rule on the left to open it here.",
    "editor_placeholder": "The rule's YAML",
    "editor_file": "{file} · {title}",
    "editor_load_failed": "Could not load {rule}: {error}",
    "valid": "valid",
    "valid_needs": "valid; needs {needs}",
    "invalid": "{problem}",
    "save": "Save",
    "saved": "Saved {file}; the ingest picks it up at its next batch.",
    "not_saved": "Not saved: {problem}. Your text is kept; the version in force stays.",
    "save_failed": "Not saved: {error}. Your text is kept.",
    "save_needs_rule": "Select a rule first.",
    "preview": "What would this have done today?",
    "preview_summary": "Replayed {events} events of {span}: {alerts} alerts, {errors} errors.",
    "preview_span": "{since}–{until} Aqkol time",
    "preview_span_none": "the stored day (no events stored yet)",
    "preview_truncated": "Only the first {events} events were replayed.",
    "preview_blinded": "The rule is blinded by the policy: {reason}",
    "preview_last_error": "Last error: {error}",
    "preview_refused": "Cannot replay: {problem}",
    "preview_failed": "Cannot replay: {error}",
    "preview_none": "It would have raised no alerts.",
    "alerts_title": "Open alerts",
    "alerts_state": "Show",
    "alerts_this_rule": "only the selected rule",
    "alerts_by": "Your name",
    "alerts_by_placeholder": "analyst",
    "alerts_reason": "Reason",
    "alerts_reason_placeholder": "why (optional, for clear)",
    "acknowledge": "Acknowledge selected",
    "clear": "Clear selected",
    "clear_rule": "Clear all of {rule}",
    "clear_rule_none": "Clear all of this rule",
    "select_first": "Tick one or more alerts first.",
    "acknowledged_n": "Acknowledged {n} of {asked} alerts.",
    "cleared_n": "Cleared {n} of {asked} alerts.",
    "cleared_rule_n": "Cleared {n} open alerts of {rule}.",
    "action_failed": "Nothing changed: {error}",
    "alerts_none": "No alerts here.",
    "col_severity": "severity",
    "col_rule": "rule",
    "col_title": "alert",
    "col_source": "source",
    "col_state": "state",
    "col_count": "count",
    "col_first_seen": "first seen",
    "col_last_seen": "last seen",
    "col_assignee": "assignee",
    "col_acknowledged": "acknowledged",
    "col_cleared": "cleared",
    "by_at": "{by} at {at}",
}

STATE_FILTERS = {  # value of GET /alerts?state= -> label
    "open": "open",
    "active": "active",
    "acknowledged": "acknowledged",
    "cleared": "cleared",
}
DEFAULT_STATE_FILTER = "open"
ALERT_STATES = ("active", "acknowledged", "cleared")
STATE_CLASS = {"active": "ok", "disabled": "off", "blinded": "blinded", "refused": "refused"}

ALERT_COLUMNS = [
    {"id": key, "name": TEXT[f"col_{key}"]}
    for key in (
        "severity",
        "rule",
        "title",
        "source",
        "state",
        "count",
        "first_seen",
        "last_seen",
        "assignee",
        "acknowledged",
        "cleared",
    )
]


def state_label(state: str | None) -> str:
    """A rule's state in words."""
    state = state or "active"
    return TEXT.get(f"state_{state}", state)


def alert_counts(counts: Mapping[str, int] | None) -> str:
    """``3 active · 1 acknowledged · 12 cleared`` (known states first), or ``no alerts``."""
    counts = counts or {}
    order = [s for s in ALERT_STATES if counts.get(s)] + sorted(
        s for s in counts if s not in ALERT_STATES and counts[s]
    )
    if not order:
        return TEXT["no_alerts_yet"]
    return " · ".join(TEXT["alert_count"].format(n=fmt.count(counts[s]), state=s) for s in order)


def rule_reason(rule: Mapping[str, Any]) -> str:
    """Why a rule is not simply active: the policy's reason, or the refusal with file:line."""
    state = rule.get("state")
    if state == "blinded":
        return TEXT["blinded_reason"].format(reason=rule.get("reason") or TEXT["blinded_default"])
    if rule.get("error"):
        return TEXT["refused_reason"].format(problem=fmt.problem(rule["error"], with_file=True))
    return ""


def rule_card(rule: Mapping[str, Any]) -> html.Div:
    """One rule of the list: title and id, severity, state, purpose, misuse, alert counts."""
    state = rule.get("state") or "active"
    sev = rule.get("severity")
    head = [
        html.Span(rule.get("title") or rule.get("id"), className="rule-title"),
        html.Span(rule.get("id"), className="rule-id"),
    ]
    badges = [html.Span(state_label(state), className=f"rule-state state-{state}")]
    if sev:
        badges.append(html.Span(sev.upper(), className=f"rule-sev sev-{severity_class(sev)}"))
    if rule.get("misuse"):
        badges.append(html.Span(TEXT["misuse"], className="rule-misuse", title=TEXT["misuse_hint"]))
    lines: list[Any] = [
        html.Div(head, className="rule-head"),
        html.Div(badges, className="rule-badges"),
    ]
    meta = []
    if rule.get("purpose"):
        meta.append(html.Span(TEXT["purpose"].format(purpose=rule["purpose"])))
    meta.append(html.Span(alert_counts(rule.get("alerts")), className="rule-alerts"))
    lines.append(html.Div(meta, className="rule-meta"))
    reason = rule_reason(rule)
    if reason:
        lines.append(html.Div(reason, className=f"rule-reason state-{state}"))
    if rule.get("errors"):
        lines.append(
            html.Div(
                TEXT["errors"].format(n=rule["errors"], last=rule.get("last_error") or ""),
                className="rule-reason state-refused rule-errors",
            )
        )
    classes = f"rule-card state-{state}" + (" misuse" if rule.get("misuse") else "")
    return html.Div(lines, className=classes, title=rule.get("description") or "")


def rule_options(rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The options of the rule picker: one card each, valued by rule id."""
    return [{"label": rule_card(r), "value": r["id"]} for r in rules if r.get("id")]


def editor_title(fetched: Fetched[Any] | None, rule_id: str | None) -> list[Any]:
    """The editor's heading for the open rule (or what went wrong loading it)."""
    if not rule_id or fetched is None:
        return [html.Span(TEXT["editor_none"], className="muted")]
    if not fetched.ok:
        return [html.Span(TEXT["editor_load_failed"].format(rule=rule_id, error=fetched.error))]
    rule = fetched.data
    parts: list[Any] = [
        html.Span(
            TEXT["editor_file"].format(file=rule.get("file") or rule_id, title=rule.get("title")),
            className="editor-file",
        )
    ]
    if rule.get("misuse"):
        parts.append(html.Span(TEXT["misuse"], className="rule-misuse"))
    if rule.get("error"):
        parts.append(
            html.Div(
                TEXT["refused_kept"].format(problem=fmt.problem(rule["error"], with_file=True)),
                className="editor-refused",
            )
        )
    elif rule.get("state") == "blinded":
        parts.append(html.Div(rule_reason(rule), className="editor-blinded"))
    return parts


def validation_message(fetched: Fetched[Any]) -> tuple[str, str]:
    """What ``POST /rules/validate`` said, as (text, className)."""
    if not fetched.ok:
        return fetched.error or "", "editor-msg error"
    data = fetched.data
    if data.get("ok"):
        needs = data.get("needs") or []
        if needs:
            return TEXT["valid_needs"].format(needs=", ".join(needs)), "editor-msg ok"
        return TEXT["valid"], "editor-msg ok"
    return TEXT["invalid"].format(problem=fmt.problem(data.get("error"))), "editor-msg error"


def save_message(fetched: Fetched[Any]) -> tuple[str, str]:
    """What ``PUT /rules/{id}`` said, as (text, className)."""
    if fetched.problem:
        return TEXT["not_saved"].format(problem=fmt.problem(fetched.problem)), "save-msg error"
    if not fetched.ok:
        return TEXT["save_failed"].format(error=fetched.error), "save-msg error"
    file = fetched.data.get("file") or fetched.data.get("id")
    return TEXT["saved"].format(file=file), "save-msg ok"


def local_alerts(alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Alerts with their times as naive Aqkol-local strings, for a Plotly time axis."""
    out = []
    for a in alerts:
        row = dict(a)
        for key in ("first_seen", "last_seen"):
            when = fmt.local(a.get(key))
            if when is not None:
                row[key] = when.replace(tzinfo=None).isoformat(sep=" ")
        out.append(row)
    return out


def preview_summary(fetched: Fetched[Any]) -> list[Any]:
    """A short account of a preview: events replayed, alerts, errors, and any blinding."""
    if fetched.problem:
        text = TEXT["preview_refused"].format(problem=fmt.problem(fetched.problem))
        return [html.Div(text, className="preview-line error")]
    if not fetched.ok:
        text = TEXT["preview_failed"].format(error=fetched.error)
        return [html.Div(text, className="preview-line error")]
    p = fetched.data
    alerts = p.get("alerts") or []
    if p.get("until"):
        span = TEXT["preview_span"].format(
            since=fmt.time_of_day(p.get("since"))[:5], until=fmt.time_of_day(p.get("until"))[:5]
        )
    else:
        span = TEXT["preview_span_none"]
    lines = [
        html.Div(
            TEXT["preview_summary"].format(
                events=fmt.count(p.get("events") or 0),
                span=span,
                alerts=fmt.count(len(alerts)),
                errors=fmt.count(p.get("errors") or 0),
            ),
            className="preview-line",
            id="rules-preview-counts",
            **{"data-alerts": str(len(alerts))},
        )
    ]
    if not alerts:
        lines.append(html.Div(TEXT["preview_none"], className="preview-line muted"))
    if p.get("truncated"):
        text = TEXT["preview_truncated"].format(events=fmt.count(p.get("events") or 0))
        lines.append(html.Div(text, className="preview-line warn"))
    if p.get("state") == "blinded":
        reason = p.get("reason") or TEXT["blinded_default"]
        text = TEXT["preview_blinded"].format(reason=reason)
        lines.append(html.Div(text, className="preview-line warn"))
    if p.get("last_error"):
        text = TEXT["preview_last_error"].format(error=p["last_error"])
        lines.append(html.Div(text, className="preview-line error"))
    return lines


def _by_at(by: str | None, at: str | None) -> str:
    if not by and not at:
        return ""
    return TEXT["by_at"].format(by=by or "?", at=fmt.time_of_day(at)) if at else str(by)


def alert_rows(alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the alert table: ids for the selection, times in Aqkol time, who acted."""
    return [
        {
            "id": a.get("id"),
            "severity": (a.get("severity") or "").upper(),
            "sev_class": severity_class(a.get("severity")),
            "rule": a.get("rule") or "",
            "title": a.get("title") or "",
            "source": a.get("source") or "",
            "state": a.get("state") or "",
            "count": int(a.get("count") or 1),
            "first_seen": fmt.time_of_day(a.get("first_seen")),
            "last_seen": fmt.time_of_day(a.get("last_seen")),
            "assignee": a.get("assignee") or "",
            "acknowledged": _by_at(a.get("acknowledged_by"), a.get("acknowledged_at")),
            "cleared": _by_at(a.get("cleared_by"), a.get("cleared_at")),
            "misuse": bool(a.get("misuse")),
        }
        for a in alerts
        if a.get("id") is not None
    ]


def selected_rows(rows: Sequence[Mapping[str, Any]], ids: Sequence[Any] | None) -> list[int]:
    """The row indexes of the alerts still selected (rows move as alerts come and go)."""
    wanted = set(ids or ())
    return [i for i, row in enumerate(rows) if row.get("id") in wanted]


def action_message(
    action: str, fetched: Fetched[Any], asked: int, rule: str | None = None
) -> tuple[str, str]:
    """What an acknowledge or clear did, as (text, className)."""
    if not fetched.ok:
        return TEXT["action_failed"].format(error=fetched.error), "action-msg error"
    n = len(fetched.data.get("changed") or [])
    if rule:
        return TEXT["cleared_rule_n"].format(n=n, rule=rule), "action-msg ok"
    key = "acknowledged_n" if action == "acknowledge" else "cleared_n"
    return TEXT[key].format(n=n, asked=asked), "action-msg ok"


def clear_rule_label(rule: str | None) -> str:
    """The label of the "clear all of this rule" button."""
    return TEXT["clear_rule"].format(rule=rule) if rule else TEXT["clear_rule_none"]
