"""The wall: the situation room's "LED wall" for a projector at 1920x1080.

Large type; the map, the alert feed and the camera wall side by side; the teacher's controls
on top (teachers only). The camera wall is the teacher's view: it can reveal the ground truth
of each watch-list match, which the command center never sees.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import camera_wall, classroom, context, figures, fmt, i18n, views
from dashboard.i18n import N_, _
from dashboard.snapshot import TRAIL_MIN, fetch

dash.register_page(
    __name__,
    path="/wall",
    name=N_("Wall"),
    title=i18n.page_title(N_("Aqkol · wall")),
    order=50,
    drawn="#wall-map .legend, #wall-map .main-svg",
)

CAMERA_WINDOW_MIN = 15
CAMERA_TILES = None  # one tile per camera, busiest first (the wall scrolls)
LAYER = figures.HEAT_LAYERS[figures.DEFAULT_LAYER]
WINDOW_S = 3600


def layout(**_query: Any) -> html.Div:
    """The wall; it refreshes with the app's refresh interval."""
    ctx = context.current()
    teacher = classroom.is_teacher()
    truth_toggle = dcc.Checklist(
        id="wall-truth",
        options=[{"label": " " + _("reveal the ground truth (teacher only)"), "value": "on"}],
        value=[],
        className="checkbox wall-truth" + ("" if teacher else " hidden"),
    )
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.Div("--:--:--", id="wall-clock", className="clock wall-clock"),
                            html.Div(views.t("clock_label"), className="clock-label"),
                        ],
                        className="clock-box",
                    ),
                    html.Div(
                        [
                            html.Div("–", id="wall-events", className="kpi-value"),
                            html.Div(views.t("events"), className="kpi-label"),
                        ],
                        className="kpi",
                    ),
                    html.Div(
                        [
                            html.Div("–", id="wall-alerts-active", className="kpi-value"),
                            html.Div(views.t("alerts_active"), className="kpi-label"),
                        ],
                        className="kpi kpi-alerts",
                    ),
                    html.Div(id="wall-status", className="status hidden"),
                ],
                className="wall-header",
            ),
            classroom.panel(),
            html.Div(
                [
                    dcc.Graph(
                        id="wall-map",
                        figure=figures.town_map(None),
                        className="map",
                        responsive=True,
                        config=i18n.graph_config({"displaylogo": False, "scrollZoom": True}),
                    ),
                    html.Aside(
                        [
                            html.H2(views.t("alerts"), className="panel-title"),
                            html.Div(
                                id="wall-feed",
                                className="alerts-feed",
                                tabIndex="0",
                                role="region",
                                **{"aria-label": _("Alerts")},
                            ),
                        ],
                        className="alerts-panel",
                    ),
                    html.Section(
                        [
                            html.H2(_("Camera wall"), className="panel-title"),
                            html.Div(
                                _("no images: what each camera reported"), className="wall-note"
                            ),
                            truth_toggle,
                            html.Div("", id="wall-cameras-summary", className="wall-note"),
                            html.Div(
                                id="wall-cameras",
                                className="camera-wall",
                                tabIndex="0",
                                role="region",
                                **{"aria-label": _("Camera wall")},
                            ),
                        ],
                        className="camera-panel",
                    ),
                ],
                className="wall-main",
            ),
            dcc.Interval(id="wall-interval", interval=ctx.settings.dashboard_refresh_ms),
            classroom.replay_store(),
        ],
        className="page page-wall",
    )


@dash.callback(
    Output("wall-clock", "children"),
    Output("wall-events", "children"),
    Output("wall-alerts-active", "children"),
    Output("wall-status", "children"),
    Output("wall-status", "className"),
    Output("wall-map", "figure"),
    Output("wall-feed", "children"),
    Output("wall-cameras", "children"),
    Output("wall-cameras-summary", "children"),
    Input("wall-interval", "n_intervals"),
    Input("classroom-replay", "data"),
    Input("wall-truth", "value"),
)
def refresh(_n: int, replay: dict | None, truth: list[str] | None) -> tuple[Any, ...]:
    """Map, alerts and camera wall of one tick, live or at the replay's time."""
    api = context.current().api
    at = (replay or {}).get("at")
    snap = fetch(api, LAYER, WINDOW_S, at, alert_limit=30)
    fig = figures.town_map(
        snap.town.data, snap.heat.data, snap.vehicles.data, snap.alerts.data, layer=LAYER,
        trails=snap.frame.data.get("trails") or [], at=at or snap.frame.data.get("at"),
        trail_min=TRAIL_MIN,
    )  # fmt: skip
    fig.update_layout(showlegend=False)  # the wall's map is smaller: the town, not the key
    stats, alerts = snap.stats, snap.alerts
    text, css = views.pane_status(api.base_url, [stats.error, snap.heat.error, alerts.error])
    if classroom.is_teacher():
        show = "on" in (truth or [])
        wall = api.cameras(CAMERA_WINDOW_MIN, at)
        tiles: list[Any] = camera_wall.camera_tiles(wall.data, show, CAMERA_TILES)
        summary = wall.error or camera_wall.wall_summary(wall.data, show)
    else:
        tiles = []
        summary = _("The camera wall is the teacher's view: it can show the ground truth.")
    return (
        views.clock(at or stats.data.get("sim_time"), replay=at is not None),
        fmt.count(stats.data.get("events")) if stats.ok else "–",
        fmt.count(stats.data.get("alerts_active")) if stats.ok else "–",
        text,
        css,
        fig,
        views.alert_feed(alerts.data.get("items") or [], alerts.error),
        tiles,
        summary,
    )
