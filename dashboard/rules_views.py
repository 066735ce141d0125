"""Pure builders of the Rules page (rule list, editor messages, preview summary, alert
table), unit-testable without a running app. The strings a user sees on that page are in
``TEXT`` (marked for the catalogs, translated where shown by :func:`t`), the counted ones in
:func:`ngettext` calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html

from dashboard import fmt, i18n
from dashboard.api_client import Fetched
from dashboard.i18n import N_, _, ngettext
from dashboard.views import severity_class, severity_label
from dashboard.views import state_label as alert_state_label

TEXT: dict[str, str] = {
    "page_name": N_("Rules"),
    "page_title": N_("Aqkol · Rules"),
    "heading": N_("Alert rules"),
    "intro": N_(
        "Each rule is a YAML file in rules/. Pick one to read and change it; check what it "
        "would have done today before you save it. Saving takes effect without a restart."
    ),
    "list_title": N_("Rules"),
    "no_rules": N_("No rules"),
    "unreachable": N_("API unreachable"),
    "misuse": N_("MISUSE demonstration"),
    "misuse_hint": N_("This rule shows how the system can be turned against people."),
    "state_active": N_("active"),
    "state_disabled": N_("disabled"),
    "state_blinded": N_("blinded by the policy"),
    "state_refused": N_("refused"),
    "blinded_reason": N_("Blinded: {reason}"),
    "blinded_default": N_("the data-minimization policy removes a field it needs"),
    "refused_reason": N_("Refused: {problem}"),
    "refused_kept": N_("The file is refused: {problem}. The previous version stays in force."),
    "no_alerts_yet": N_("no alerts"),
    "alert_count": N_("{n} {state}"),
    "purpose": N_("purpose: {purpose}"),
    "editor_title": N_("Editor"),
    "editor_none": N_("Select a rule on the left to open it here."),
    "editor_placeholder": N_("The rule's YAML"),
    "editor_file": N_("{file} · {title}"),
    "editor_load_failed": N_("Could not load {rule}: {error}"),
    "valid": N_("valid"),
    "valid_needs": N_("valid; needs {needs}"),
    "invalid": N_("{problem}"),
    "save": N_("Save"),
    "saved": N_("Saved {file}; the ingest picks it up at its next batch."),
    "not_saved": N_("Not saved: {problem}. Your text is kept; the version in force stays."),
    "save_failed": N_("Not saved: {error}. Your text is kept."),
    "save_needs_rule": N_("Select a rule first."),
    "preview": N_("What would this have done today?"),
    "preview_summary": N_("Replayed {events} of {span}: {alerts}, {errors}."),
    "preview_span": N_("{since}–{until} Aqkol time"),
    "preview_span_none": N_("the stored day (no events stored yet)"),
    "preview_blinded": N_("The rule is blinded by the policy: {reason}"),
    "preview_last_error": N_("Last error: {error}"),
    "preview_refused": N_("Cannot replay: {problem}"),
    "preview_failed": N_("Cannot replay: {error}"),
    "preview_none": N_("It would have raised no alerts."),
    "alerts_title": N_("Open alerts"),
    "alerts_state": N_("Show"),
    "alerts_this_rule": N_("only the selected rule"),
    "alerts_by": N_("Your name"),
    "alerts_by_placeholder": N_("analyst"),
    "alerts_reason": N_("Reason"),
    "alerts_reason_placeholder": N_("why (optional, for clear)"),
    "acknowledge": N_("Acknowledge selected"),
    "clear": N_("Clear selected"),
    "clear_rule": N_("Clear all of {rule}"),
    "clear_rule_none": N_("Clear all of this rule"),
    "select_first": N_("Tick one or more alerts first."),
    "action_failed": N_("Nothing changed: {error}"),
    "alerts_none": N_("No alerts here."),
    "col_severity": N_("severity"),
    "col_rule": N_("rule"),
    "col_title": N_("alert"),
    "col_source": N_("source"),
    "col_state": N_("state"),
    "col_count": N_("count"),
    "col_first_seen": N_("first seen"),
    "col_last_seen": N_("last seen"),
    "col_assignee": N_("assignee"),
    "col_acknowledged": N_("acknowledged"),
    "col_cleared": N_("cleared"),
    "by_at": N_("{by} at {at}"),
}

STATE_FILTERS = {  # value of GET /alerts?state= -> label
    "open": N_("open"),
    "active": N_("active"),
    "acknowledged": N_("acknowledged"),
    "cleared": N_("cleared"),
}
DEFAULT_STATE_FILTER = "open"
ALERT_STATES = ("active", "acknowledged", "cleared")
STATE_CLASS = {"active": "ok", "disabled": "off", "blinded": "blinded", "refused": "refused"}

ALERT_COLUMN_KEYS = (
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
ALERT_COLUMNS = [{"id": key, "name": TEXT[f"col_{key}"]} for key in ALERT_COLUMN_KEYS]


def t(key: str) -> str:
    """A string of ``TEXT`` in the current request's language."""
    return _(TEXT[key])


def alert_columns() -> list[dict[str, str]]:
    """The alert table's columns, titled in the current request's language."""
    shown = {"severity": "severity_shown", "state": "state_shown"}  # the raw ones style rows
    return [{"id": shown.get(key, key), "name": t(f"col_{key}")} for key in ALERT_COLUMN_KEYS]


def state_filters() -> list[dict[str, str]]:
    """The options of the alert state filter, in the current request's language."""
    return [{"label": _(label), "value": value} for value, label in STATE_FILTERS.items()]


def state_label(state: str | None) -> str:
    """A rule's state in words."""
    state = state or "active"
    return t(f"state_{state}") if f"state_{state}" in TEXT else state


def alert_counts(counts: Mapping[str, int] | None) -> str:
    """``3 active · 1 acknowledged · 12 cleared`` (known states first), or ``no alerts``."""
    counts = counts or {}
    order = [s for s in ALERT_STATES if counts.get(s)] + sorted(
        s for s in counts if s not in ALERT_STATES and counts[s]
    )
    if not order:
        return t("no_alerts_yet")
    return " · ".join(
        t("alert_count").format(n=fmt.count(counts[s]), state=alert_state_label(s)) for s in order
    )


def rule_reason(rule: Mapping[str, Any]) -> str:
    """Why a rule is not simply active: the policy's reason, or the refusal with file:line."""
    state = rule.get("state")
    if state == "blinded":
        return t("blinded_reason").format(reason=rule.get("reason") or t("blinded_default"))
    if rule.get("error"):
        return t("refused_reason").format(problem=fmt.problem(rule["error"], with_file=True))
    return ""


def rule_card(rule: Mapping[str, Any]) -> html.Div:
    """One rule of the list: title and id, severity, state, purpose, misuse, alert counts."""
    state = rule.get("state") or "active"
    sev = rule.get("severity")
    head = [
        html.Span(i18n.rule_text(rule) or rule.get("id"), className="rule-title"),
        html.Span(rule.get("id"), className="rule-id"),
    ]
    badges = [html.Span(state_label(state), className=f"rule-state state-{state}")]
    if sev:
        badges.append(
            html.Span(severity_label(sev), className=f"rule-sev sev-{severity_class(sev)}")
        )
    if rule.get("misuse"):
        badges.append(html.Span(t("misuse"), className="rule-misuse", title=t("misuse_hint")))
    lines: list[Any] = [
        html.Div(head, className="rule-head"),
        html.Div(badges, className="rule-badges"),
    ]
    meta = []
    if rule.get("purpose"):
        meta.append(html.Span(t("purpose").format(purpose=rule["purpose"])))
    meta.append(html.Span(alert_counts(rule.get("alerts")), className="rule-alerts"))
    lines.append(html.Div(meta, className="rule-meta"))
    reason = rule_reason(rule)
    if reason:
        lines.append(html.Div(reason, className=f"rule-reason state-{state}"))
    if rule.get("errors"):
        lines.append(
            html.Div(
                ngettext(
                    "{n} evaluation error in the ingest; last: {last}",
                    "{n} evaluation errors in the ingest; last: {last}",
                    int(rule["errors"]),
                ).format(n=fmt.count(rule["errors"]), last=rule.get("last_error") or ""),
                className="rule-reason state-refused rule-errors",
            )
        )
    classes = f"rule-card state-{state}" + (" misuse" if rule.get("misuse") else "")
    return html.Div(lines, className=classes, title=i18n.rule_text(rule, "description"))


def rule_options(rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The options of the rule picker: one card each, valued by rule id."""
    return [{"label": rule_card(r), "value": r["id"]} for r in rules if r.get("id")]


def editor_title(fetched: Fetched[Any] | None, rule_id: str | None) -> list[Any]:
    """The editor's heading for the open rule (or what went wrong loading it)."""
    if not rule_id or fetched is None:
        return [html.Span(t("editor_none"), className="muted")]
    if not fetched.ok:
        return [html.Span(t("editor_load_failed").format(rule=rule_id, error=fetched.error))]
    rule = fetched.data
    parts: list[Any] = [
        html.Span(
            t("editor_file").format(file=rule.get("file") or rule_id, title=i18n.rule_text(rule)),
            className="editor-file",
        )
    ]
    if rule.get("misuse"):
        parts.append(html.Span(t("misuse"), className="rule-misuse"))
    if rule.get("error"):
        parts.append(
            html.Div(
                t("refused_kept").format(problem=fmt.problem(rule["error"], with_file=True)),
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
            return t("valid_needs").format(needs=", ".join(needs)), "editor-msg ok"
        return t("valid"), "editor-msg ok"
    return t("invalid").format(problem=fmt.problem(data.get("error"))), "editor-msg error"


def save_message(fetched: Fetched[Any]) -> tuple[str, str]:
    """What ``PUT /rules/{id}`` said, as (text, className)."""
    if fetched.problem:
        return t("not_saved").format(problem=fmt.problem(fetched.problem)), "save-msg error"
    if not fetched.ok:
        return t("save_failed").format(error=fetched.error), "save-msg error"
    file = fetched.data.get("file") or fetched.data.get("id")
    return t("saved").format(file=file), "save-msg ok"


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
        text = t("preview_refused").format(problem=fmt.problem(fetched.problem))
        return [html.Div(text, className="preview-line error")]
    if not fetched.ok:
        text = t("preview_failed").format(error=fetched.error)
        return [html.Div(text, className="preview-line error")]
    p = fetched.data
    alerts = p.get("alerts") or []
    if p.get("until"):
        span = t("preview_span").format(
            since=fmt.time_of_day(p.get("since"))[:5], until=fmt.time_of_day(p.get("until"))[:5]
        )
    else:
        span = t("preview_span_none")
    n_events, n_errors = int(p.get("events") or 0), int(p.get("errors") or 0)
    lines = [
        html.Div(
            t("preview_summary").format(
                events=ngettext("{n} event", "{n} events", n_events).format(n=fmt.count(n_events)),
                span=span,
                alerts=ngettext("{n} alert", "{n} alerts", len(alerts)).format(
                    n=fmt.count(len(alerts))
                ),
                errors=ngettext("{n} error", "{n} errors", n_errors).format(n=fmt.count(n_errors)),
            ),
            className="preview-line",
            id="rules-preview-counts",
            **{"data-alerts": str(len(alerts))},
        )
    ]
    if not alerts:
        lines.append(html.Div(t("preview_none"), className="preview-line muted"))
    if p.get("truncated"):
        text = ngettext(
            "Only the first {events} event was replayed.",
            "Only the first {events} events were replayed.",
            n_events,
        ).format(events=fmt.count(n_events))
        lines.append(html.Div(text, className="preview-line warn"))
    if p.get("state") == "blinded":
        reason = p.get("reason") or t("blinded_default")
        text = t("preview_blinded").format(reason=reason)
        lines.append(html.Div(text, className="preview-line warn"))
    if p.get("last_error"):
        text = t("preview_last_error").format(error=p["last_error"])
        lines.append(html.Div(text, className="preview-line error"))
    return lines


def _by_at(by: str | None, at: str | None) -> str:
    if not by and not at:
        return ""
    return t("by_at").format(by=by or "?", at=fmt.time_of_day(at)) if at else str(by)


def alert_rows(alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the alert table: ids for the selection, times in Aqkol time, who acted."""
    return [
        {
            "id": a.get("id"),
            "severity": (a.get("severity") or "").upper(),
            "severity_shown": severity_label(a.get("severity")),
            "sev_class": severity_class(a.get("severity")),
            "rule": a.get("rule") or "",
            "title": i18n.alert_title(a) if a.get("title") else "",
            "source": a.get("source") or "",
            "state": a.get("state") or "",
            "state_shown": alert_state_label(a.get("state")) if a.get("state") else "",
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
        return t("action_failed").format(error=fetched.error), "action-msg error"
    n = len(fetched.data.get("changed") or [])
    if rule:
        text = ngettext(
            "Cleared {n} open alert of {rule}.", "Cleared {n} open alerts of {rule}.", n
        ).format(n=fmt.count(n), rule=rule)
        return text, "action-msg ok"
    if action == "acknowledge":
        text = ngettext(
            "Acknowledged {n} of {asked} alert.", "Acknowledged {n} of {asked} alerts.", asked
        )
    else:
        text = ngettext("Cleared {n} of {asked} alert.", "Cleared {n} of {asked} alerts.", asked)
    return text.format(n=fmt.count(n), asked=fmt.count(asked)), "action-msg ok"


def clear_rule_label(rule: str | None) -> str:
    """The label of the "clear all of this rule" button."""
    return t("clear_rule").format(rule=rule) if rule else t("clear_rule_none")
