"""Situation room: simulated clock, counters, the town map with a heatmap layer, alerts."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import context, figures, fmt, views

dash.register_page(__name__, path="/", name="Situation room", title="Aqkol · Situation room")

WINDOWS = {900: "15 min", 3600: "1 h", 21600: "6 h"}
DEFAULT_WINDOW = 3600
HEAT_RES = 9
VEHICLES_WITHIN_S = 120
ALERT_LIMIT = 50


def _kpi(kpi_id: str, label: str, extra_class: str = "") -> html.Div:
    return html.Div(
        [html.Div("–", id=kpi_id, className="kpi-value"), html.Div(label, className="kpi-label")],
        className=f"kpi {extra_class}".strip(),
    )


def layout(**_query: Any) -> html.Div:
    """The page, with the refresh interval of the running app's settings."""
    refresh_ms = context.current().settings.dashboard_refresh_ms
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.Div("--:--:--", id="situation-clock", className="clock"),
                            html.Div("Aqkol time (UTC+6), simulated", className="clock-label"),
                        ],
                        className="clock-box",
                    ),
                    _kpi("kpi-events", "events stored"),
                    _kpi("kpi-alerts", "active alerts", "kpi-alerts"),
                    _kpi("kpi-dead-letters", "dead letters", "kpi-dead"),
                    html.Div(
                        [
                            html.Div("events by kind", className="kpi-label"),
                            html.Div(id="situation-kinds", className="kinds"),
                        ],
                        className="kpi kpi-kinds",
                    ),
                ],
                className="situation-header",
            ),
            html.Div(id="situation-status", className="status hidden"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span("Layer", className="control-label"),
                            dcc.RadioItems(
                                id="situation-layer",
                                options=[
                                    {"label": layer.label, "value": key}
                                    for key, layer in figures.HEAT_LAYERS.items()
                                ],
                                value=figures.DEFAULT_LAYER,
                                className="segmented",
                                inline=True,
                            ),
                        ],
                        className="control",
                    ),
                    html.Div(
                        [
                            html.Span("Window", className="control-label"),
                            dcc.RadioItems(
                                id="situation-window",
                                options=[
                                    {"label": f"last {label}", "value": seconds}
                                    for seconds, label in WINDOWS.items()
                                ],
                                value=DEFAULT_WINDOW,
                                className="segmented",
                                inline=True,
                            ),
                        ],
                        className="control",
                    ),
                    html.Div(
                        views.heat_marker(0, None, None), id="situation-heat", className="heat-info"
                    ),
                ],
                className="controls",
            ),
            html.Div(
                [
                    dcc.Graph(
                        id="situation-map",
                        figure=figures.town_map(None),
                        className="map",
                        responsive=True,
                        config={
                            "displaylogo": False,
                            "scrollZoom": True,
                            "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
                            "toImageButtonOptions": {"filename": "aqkol-situation"},
                        },
                    ),
                    html.Aside(
                        [
                            html.H2("Alerts", className="panel-title"),
                            html.Div(id="alerts-feed", className="alerts-feed"),
                        ],
                        className="alerts-panel",
                    ),
                ],
                className="situation-main",
            ),
            dcc.Interval(id="situation-interval", interval=refresh_ms, n_intervals=0),
        ],
        className="page page-situation",
    )


@dash.callback(
    Output("situation-clock", "children"),
    Output("kpi-events", "children"),
    Output("kpi-alerts", "children"),
    Output("kpi-dead-letters", "children"),
    Output("situation-kinds", "children"),
    Output("situation-status", "children"),
    Output("situation-status", "className"),
    Output("situation-map", "figure"),
    Output("alerts-feed", "children"),
    Output("situation-heat", "children"),
    Input("situation-interval", "n_intervals"),
    Input("situation-layer", "value"),
    Input("situation-window", "value"),
)
def refresh(_n: int, layer_key: str, window_s: int) -> tuple[Any, ...]:
    """Fetch everything once per tick and redraw; an unreachable API shows as a banner."""
    api = context.current().api
    layer = figures.HEAT_LAYERS.get(layer_key) or figures.HEAT_LAYERS[figures.DEFAULT_LAYER]
    window_s = int(window_s or DEFAULT_WINDOW)

    stats = api.stats()
    town = api.town()
    heat = api.heatmap(layer.kind, agg=layer.agg, window_s=window_s, res=HEAT_RES)
    vehicles = api.latest("vehicle.position", within_s=VEHICLES_WITHIN_S)
    alerts = api.alerts(limit=ALERT_LIMIT)

    errors = [f.error for f in (stats, town, heat, vehicles, alerts) if f.error]
    if any("unreachable" in e for e in errors):
        status, status_class = f"API unreachable — {api.base_url}", "status error"
    elif errors:
        status, status_class = errors[0], "status warn"
    else:
        status, status_class = "", "status hidden"

    s = stats.data
    title = f"{layer.label}, last {WINDOWS.get(window_s, f'{window_s} s')} ({layer.unit})"
    fig = figures.town_map(
        town.data,
        heat.data,
        vehicles.data,
        alerts.data,
        layer=layer,
        heat_title=title,
    )
    items = alerts.data.get("items") or []
    return (
        [
            html.Span(fmt.time_of_day(s.get("sim_time"))),
            html.Span(fmt.day(s.get("sim_time")), className="clock-date"),
        ],
        fmt.count(s.get("events")) if stats.ok else "–",
        fmt.count(s.get("alerts_active")) if stats.ok else "–",
        fmt.count(s.get("dead_letters")) if stats.ok else "–",
        views.kind_bars(s.get("by_kind") or {}),
        status,
        status_class,
        fig,
        views.alert_feed(items, alerts.error),
        views.heat_marker(
            figures.heat_cell_count(fig), heat.data.get("since"), heat.data.get("until")
        ),
    )
