"""Pure builders of the situation room's HTML parts (alert feed, KPI tiles), unit-testable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dash import html

from dashboard import fmt

SEVERITY_CLASS = {  # X.733-like levels (the starter rule says "major") and common synonyms
    "critical": "critical",
    "high": "major",
    "major": "major",
    "error": "major",
    "alarm": "major",
    "minor": "warning",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "low": "info",
    "notice": "info",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def severity_class(severity: str | None) -> str:
    """``critical``, ``major``, ``warning`` or ``info``: the colour an alert gets."""
    return SEVERITY_CLASS.get((severity or "").lower(), "info")


def newest_first(alerts: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Alerts sorted by ``last_seen``, newest first (alerts without a time last)."""
    return sorted(alerts, key=lambda a: fmt.parse_ts(a.get("last_seen")) or _EPOCH, reverse=True)


def alert_item(alert: Mapping[str, Any]) -> html.Div:
    """One alert of the feed: severity, title, source, Aqkol time, count, state."""
    sev = severity_class(alert.get("severity"))
    state = (alert.get("state") or "active").lower()
    count = int(alert.get("count") or 1)
    meta = [
        html.Span(alert.get("source") or alert.get("kind") or "–", className="alert-source"),
        html.Span(fmt.time_of_day(alert.get("last_seen")), className="alert-time"),
    ]
    if count > 1:
        meta.append(html.Span(f"×{fmt.count(count)}", className="alert-count"))
    if state != "active":
        meta.append(html.Span(state, className="alert-state"))
    return html.Div(
        [
            html.Span((alert.get("severity") or sev).upper(), className="alert-sev"),
            html.Div(
                [
                    html.Div(
                        alert.get("title") or alert.get("rule") or "alert", className="alert-title"
                    ),
                    html.Div(meta, className="alert-meta"),
                ],
                className="alert-body",
            ),
        ],
        className=f"alert-item sev-{sev} state-{state}",
        title=f"rule {alert.get('rule', '?')}, first seen {fmt.clock(alert.get('first_seen'))}",
    )


def alert_feed(alerts: Sequence[Mapping[str, Any]], error: str | None = None) -> list[Any]:
    """The alert feed's children: newest first, or a quiet line when there is nothing."""
    if error and not alerts:
        return [html.Div("API unreachable: no alerts to show", className="feed-empty")]
    if not alerts:
        return [html.Div("No alerts", className="feed-empty")]
    return [alert_item(a) for a in newest_first(alerts)]


def kind_bars(by_kind: Mapping[str, int], top: int = 6) -> list[Any]:
    """Events by kind as labelled bars, biggest first."""
    rows = sorted(by_kind.items(), key=lambda kv: kv[1], reverse=True)[:top]
    if not rows:
        return [html.Div("no events yet", className="kinds-empty")]
    biggest = max(v for _, v in rows) or 1
    return [
        html.Div(
            [
                html.Span(kind, className="kind-name"),
                html.Span(
                    html.Span(className="kind-fill", style={"width": f"{100 * n / biggest:.0f}%"}),
                    className="kind-bar",
                ),
                html.Span(fmt.count(n), className="kind-count"),
            ],
            className="kind-row",
        )
        for kind, n in rows
    ]


def heat_marker(cells: int, since: str | None, until: str | None) -> html.Span:
    """A visible line naming how many heatmap cells are drawn (read by the browser test)."""
    text = f"heat cells: {cells}"
    if until:
        text += f" · {fmt.time_of_day(since)}–{fmt.time_of_day(until)} Aqkol time"
    return html.Span(text, id="situation-heat-cells", **{"data-heat-cells": str(cells)})
