"""Pure builders of the situation room's HTML parts (alert feed, KPI tiles), unit-testable;
the room's user-visible strings are in ``TEXT``, its panes' component ids in ``MAIN``
(the single pane, or the main store's) and ``LANE`` (a policy lane's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dash import html

from dashboard import fmt, i18n
from dashboard.api_client import is_unreachable
from dashboard.i18n import N_, _, ngettext

TEXT: dict[str, str] = {
    "page_name": N_("Situation room"),
    "page_title": N_("Aqkol · Situation room"),
    "clock_label": N_("Aqkol time (UTC+6), simulated"),
    "events": N_("events stored"),
    "alerts_active": N_("active alerts"),
    "dead_letters": N_("dead letters"),
    "kinds": N_("events by kind"),
    "no_events": N_("no events yet"),
    "layer": N_("Layer"),
    "window": N_("Window"),
    "window_option": N_("last {label}"),
    "alerts": N_("Alerts"),
    "no_alerts": N_("No alerts"),
    "alerts_unreachable": N_("API unreachable: no alerts to show"),
    "heat_title": N_("{layer}, last {window} ({unit})"),
    "heat_span": N_(" · {since}–{until} Aqkol time"),
    "heat_budget": N_(
        " · privacy budget {spent} of {daily} spent today (ε {epsilon} a release, per {unit})"
    ),
    "unreachable": N_("API unreachable — {url}"),
    "heat_refused": N_("Heatmap not released under this policy: {reason}"),
    "compare_note": N_(
        "The same live stream, stored twice: each pane shows what its store holds under its "
        "policy. What is missing on one side is what that policy removes."
    ),
    "pane_title": N_("as stored under {policy}"),
    "policy_unknown": N_("an unknown policy"),
    "main_source": N_("main store · {url}"),
    "lane_source": N_("comparison lane · {url}"),
    "replay_badge": N_("REPLAY from the store"),
}


def t(key: str) -> str:
    """A string of ``TEXT`` in the current request's language."""
    return _(TEXT[key])


@dataclass(frozen=True)
class PaneIds:
    """The component ids of one pane of the situation room."""

    title: str
    events: str
    alerts_active: str
    dead_letters: str
    kinds: str
    status: str
    heat: str
    heat_marker: str
    map: str
    feed: str
    filename: str  # of the map's image download
    effect: str = ""  # what the pane's policy removed or changed (two panes only)


MAIN = PaneIds(  # the ids of the single pane, kept when the main store is the left pane
    title="situation-pane-title",
    events="kpi-events",
    alerts_active="kpi-alerts",
    dead_letters="kpi-dead-letters",
    kinds="situation-kinds",
    status="situation-status",
    heat="situation-heat",
    heat_marker="situation-heat-cells",
    map="situation-map",
    feed="alerts-feed",
    filename="aqkol-situation",
    effect="situation-effect",
)
LANE = PaneIds(
    title="compare-pane-title",
    events="compare-kpi-events",
    alerts_active="compare-kpi-alerts",
    dead_letters="compare-kpi-dead-letters",
    kinds="compare-kinds",
    status="compare-status",
    heat="compare-heat",
    heat_marker="compare-heat-cells",
    map="compare-map",
    feed="compare-alerts-feed",
    filename="aqkol-situation-lane",
    effect="compare-effect",
)

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
ALERT_STATE = {"active": N_("active"), "acknowledged": N_("acknowledged"), "cleared": N_("cleared")}
SEVERITY = {  # the words a rule may use for its severity, as shown on a badge
    "critical": N_("CRITICAL"),
    "major": N_("MAJOR"),
    "minor": N_("MINOR"),
    "warning": N_("WARNING"),
    "info": N_("INFO"),
    "high": N_("HIGH"),
    "medium": N_("MEDIUM"),
    "low": N_("LOW"),
}


def severity_class(severity: str | None) -> str:
    """``critical``, ``major``, ``warning`` or ``info``: the colour an alert gets."""
    return SEVERITY_CLASS.get((severity or "").lower(), "info")


def severity_label(severity: str | None) -> str:
    """A severity as its badge shows it, in the page's language (``MAJOR``, ``СЕРЬЁЗНАЯ``)."""
    word = (severity or "").lower()
    return _(SEVERITY[word]) if word in SEVERITY else (severity or "").upper()


def state_label(state: str | None) -> str:
    """An alert's state in the page's language."""
    word = (state or "active").lower()
    return _(ALERT_STATE[word]) if word in ALERT_STATE else word


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
        meta.append(html.Span(state_label(state), className="alert-state"))
    return html.Div(
        [
            html.Span(severity_label(alert.get("severity") or sev), className="alert-sev"),
            html.Div(
                [
                    html.Div(i18n.alert_title(alert), className="alert-title"),
                    html.Div(meta, className="alert-meta"),
                ],
                className="alert-body",
            ),
        ],
        className=f"alert-item sev-{sev} state-{state}",
        title=_("rule {rule}, first seen {time}").format(
            rule=alert.get("rule", "?"), time=fmt.clock(alert.get("first_seen"))
        ),
    )


def alert_feed(alerts: Sequence[Mapping[str, Any]], error: str | None = None) -> list[Any]:
    """The alert feed's children: newest first, or a quiet line when there is nothing."""
    if error and not alerts:
        return [html.Div(t("alerts_unreachable"), className="feed-empty")]
    if not alerts:
        return [html.Div(t("no_alerts"), className="feed-empty")]
    return [alert_item(a) for a in newest_first(alerts)]


def kind_bars(by_kind: Mapping[str, int], top: int = 6) -> list[Any]:
    """Events by kind as labelled bars, biggest first."""
    rows = sorted(by_kind.items(), key=lambda kv: kv[1], reverse=True)[:top]
    if not rows:
        return [html.Div(t("no_events"), className="kinds-empty")]
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


def heat_marker(
    cells: int,
    since: str | None,
    until: str | None,
    marker_id: str = "situation-heat-cells",
    release: dict[str, Any] | None = None,
) -> html.Span:
    """A visible line naming how many heatmap cells are drawn (read by the browser test),
    and, under differential privacy, the day's budget spent (from the heatmap's answer)."""
    text = ngettext("{cells} heat cell", "{cells} heat cells", cells).format(cells=fmt.count(cells))
    if until:
        text += t("heat_span").format(since=fmt.time_of_day(since), until=fmt.time_of_day(until))
    dp = (release or {}).get("dp")
    if dp:
        text += t("heat_budget").format(
            spent=fmt.number(dp["spent"]),
            daily=fmt.number(dp["daily_budget"]),
            epsilon=fmt.number(dp["epsilon"]),
            unit=dp["unit"],
        )
    return html.Span(text, id=marker_id, **{"data-heat-cells": str(cells)})


def local_day(ts: str | None) -> str:
    """The simulated date in the interface's language (``Thu 15 Jan 2026``, ``чт 15 янв.
    2026``)."""
    return fmt.day(ts)


def clock(ts: str | None, replay: bool = False) -> list[Any]:
    """The clock's children: time and date, and a REPLAY badge when showing the past."""
    parts: list[Any] = [
        html.Span(fmt.time_of_day(ts)),
        html.Span(local_day(ts), className="clock-date"),
    ]
    if replay:
        parts.append(html.Span(t("replay_badge"), className="replay-badge", id="clock-replay"))
    return parts


def pane_title(policy: str | None) -> str:
    """A pane's heading: ``as stored under <policy>``."""
    return t("pane_title").format(policy=policy or t("policy_unknown"))


def pane_status(
    base_url: str, errors: Sequence[str | None], heat_refusal: str | None = None
) -> tuple[str, str]:
    """A pane's banner, text and class: the API unreachable (error), a heatmap the policy does
    not release or another problem (warning), or nothing (hidden)."""
    found = [e for e in errors if e]
    if any(is_unreachable(e) for e in found):
        return t("unreachable").format(url=base_url), "status error"
    if heat_refusal:
        return t("heat_refused").format(reason=heat_refusal), "status warn heat-refused"
    if found:
        return found[0], "status warn"
    return "", "status hidden"
