"""Situation room: simulated clock, counters, the town map with a heatmap layer, alerts.

With a policy lane configured (``compare_api_url``), the room shows two panes side by side:
the main store on the left, the lane's store on the right, each as stored under its policy,
so that a class sees what a policy removes. Without one, it is a single pane.

The user-visible strings are in ``dashboard.views.TEXT``.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import flask
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, classroom, context, effect_views, figures, fmt, i18n, views
from dashboard.api_client import ApiClient
from dashboard.i18n import N_, _
from dashboard.snapshot import TRAIL_MIN, Snapshot, fetch
from dashboard.views import LANE, MAIN, TEXT, PaneIds, t

dash.register_page(
    __name__,
    path="/",
    name=TEXT["page_name"],
    title=i18n.page_title(TEXT["page_title"]),
    order=0,
    drawn="#situation-map .legendtext",
)

VIEW_MAIN = "situation-view-main"  # the number of the shared version a browser shows
VIEW_LANE = "situation-view-lane"
VIEW_EFFECT = "situation-view-effect"  # the shared versions of both effect boxes shown
WINDOWS = {900: N_("15 min"), 3600: N_("1 h"), 21600: N_("6 h")}
DEFAULT_WINDOW = 3600


def _kpi(kpi_id: str, label: str, extra_class: str = "") -> html.Div:
    return html.Div(
        [html.Div("–", id=kpi_id, className="kpi-value"), html.Div(label, className="kpi-label")],
        className=f"kpi {extra_class}".strip(),
    )


def _clock() -> html.Div:
    return html.Div(
        [
            html.Div("--:--:--", id="situation-clock", className="clock"),
            html.Div(t("clock_label"), className="clock-label"),
        ],
        className="clock-box",
    )


def _kinds(kinds_id: str) -> html.Div:
    return html.Div(
        [
            html.Div(t("kinds"), className="kpi-label"),
            html.Div(id=kinds_id, className="kinds"),
        ],
        className="kpi kpi-kinds",
    )


def _controls(heat: list[Any]) -> html.Div:
    """The layer and window selectors (one pair for both panes), then ``heat``."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span(t("layer"), className="control-label"),
                    dcc.RadioItems(
                        id="situation-layer",
                        options=[
                            {"label": _(layer.label), "value": key}
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
                    html.Span(t("window"), className="control-label"),
                    dcc.RadioItems(
                        id="situation-window",
                        options=[
                            {"label": t("window_option").format(label=_(label)), "value": seconds}
                            for seconds, label in WINDOWS.items()
                        ],
                        value=DEFAULT_WINDOW,
                        className="segmented",
                        inline=True,
                    ),
                ],
                className="control",
            ),
            *heat,
        ],
        className="controls",
    )


def _heat(ids: PaneIds) -> html.Div:
    return html.Div(
        views.heat_marker(0, None, None, ids.heat_marker), id=ids.heat, className="heat-info"
    )


def _map(ids: PaneIds) -> dcc.Graph:
    return dcc.Graph(
        id=ids.map,
        figure=figures.town_map(None),
        className="map",
        responsive=True,
        config=i18n.graph_config(
            {
                "displaylogo": False,
                "scrollZoom": True,
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
                "toImageButtonOptions": {"filename": ids.filename},
            }
        ),
    )


def _alerts(ids: PaneIds) -> html.Aside:
    return html.Aside(
        [
            html.H2(t("alerts"), className="panel-title"),
            html.Div(
                id=ids.feed,
                className="alerts-feed",
                tabIndex="0",  # it scrolls: the keyboard can too
                role="region",
                **{"aria-label": t("alerts")},
            ),
        ],
        className="alerts-panel",
    )


def _single(refresh_ms: int) -> html.Div:
    """One store: counters on top, the map with the alerts beside it."""
    return html.Div(
        [
            html.Header(
                [
                    _clock(),
                    _kpi(MAIN.events, t("events")),
                    _kpi(MAIN.alerts_active, t("alerts_active"), "kpi-alerts"),
                    _kpi(MAIN.dead_letters, t("dead_letters"), "kpi-dead"),
                    _kinds(MAIN.kinds),
                ],
                className="situation-header",
            ),
            html.Div(id=MAIN.status, className="status hidden"),
            classroom.panel(),
            _controls([_heat(MAIN)]),
            html.Div([_map(MAIN), _alerts(MAIN)], className="situation-main"),
            dcc.Interval(id="situation-interval", interval=refresh_ms, n_intervals=0),
            dcc.Store(id=VIEW_MAIN),
            classroom.replay_store(),
        ],
        className="page page-situation",
    )


def _pane(ids: PaneIds, source: str, side: str) -> html.Section:
    """One store of the comparison: its policy, counters, status, map, alerts and kinds."""
    return html.Section(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H2("…", id=ids.title, className="pane-title"),
                            html.Div(source, className="pane-source"),
                        ],
                        className="pane-name",
                    ),
                    _kpi(ids.events, t("events")),
                    _kpi(ids.alerts_active, t("alerts_active"), "kpi-alerts"),
                    _kpi(ids.dead_letters, t("dead_letters"), "kpi-dead"),
                ],
                className="pane-head",
            ),
            html.Div(id=ids.status, className="status hidden"),
            _heat(ids),
            _map(ids),
            html.Div(
                html.H3(_("What the policy changed"), className="effect-title"),
                id=ids.effect,
                className="effect",
                **{"aria-live": "off"},
            ),
            html.Div([_alerts(ids), _kinds(ids.kinds)], className="pane-foot"),
        ],
        className=f"pane pane-{side}",
    )


def _compare(refresh_ms: int, main_url: str, lane_url: str) -> html.Div:
    """Two stores of the same stream side by side, under one clock and one set of controls."""
    return html.Div(
        [
            html.Header(
                [_clock(), html.Div(t("compare_note"), className="compare-note")],
                className="situation-header compare-header",
            ),
            classroom.panel(),
            _controls([]),
            html.Div(
                [
                    _pane(MAIN, t("main_source").format(url=main_url), "main"),
                    _pane(LANE, t("lane_source").format(url=lane_url), "lane"),
                ],
                className="compare-panes",
            ),
            dcc.Interval(id="situation-interval", interval=refresh_ms, n_intervals=0),
            dcc.Store(id=VIEW_MAIN),
            dcc.Store(id=VIEW_LANE),
            dcc.Store(id=VIEW_EFFECT),
            classroom.replay_store(),
        ],
        className="page page-situation page-compare",
    )


def layout(**_query: Any) -> html.Div:
    """The page, with the refresh interval of the running app's settings: one pane, or two
    when a policy lane is configured."""
    ctx = context.current()
    refresh_ms = ctx.settings.dashboard_refresh_ms
    if ctx.compare is None:
        return _single(refresh_ms)
    return _compare(refresh_ms, ctx.api.base_url, ctx.compare.base_url)


def status(api: ApiClient, snap: Snapshot) -> tuple[str, str]:
    """The pane's banner: text and class."""
    errors = [f.error for f in (snap.stats, snap.town, snap.heat, snap.vehicles, snap.alerts)]
    refusal = snap.heat.error if snap.heat.refused is not None else None
    return views.pane_status(api.base_url, errors, refusal)


def pane_outputs(
    snap: Snapshot, layer: figures.HeatLayer, window_s: int, ids: PaneIds, compact: bool = False
) -> dict[str, Any]:
    """A pane's counters, kinds, map, alert feed and heat marker, by component id."""
    s = snap.stats.data
    window = _(WINDOWS[window_s]) if window_s in WINDOWS else f"{window_s} s"
    fig = figures.town_map_dict(
        snap.town.data,
        snap.heat.data,
        snap.vehicles.data,
        snap.alerts.data,
        layer=layer,
        heat_title=t("heat_title").format(layer=_(layer.label), window=window, unit=_(layer.unit)),
        trails=snap.frame.data.get("trails") or [],
        at=snap.at or snap.frame.data.get("at"),
        trail_min=TRAIL_MIN,
        compact=compact,
    )
    heat = snap.heat.data
    return {
        ids.events: fmt.count(s.get("events")) if snap.stats.ok else "–",
        ids.alerts_active: fmt.count(s.get("alerts_active")) if snap.stats.ok else "–",
        ids.dead_letters: fmt.count(s.get("dead_letters")) if snap.stats.ok else "–",
        ids.kinds: views.kind_bars(s.get("by_kind") or {}),
        ids.map: fig,
        ids.feed: views.alert_feed(snap.alerts.data.get("items") or [], snap.alerts.error),
        ids.heat: views.heat_marker(
            figures.heat_cell_count(fig),
            heat.get("since"),
            heat.get("until"),
            ids.heat_marker,
            heat.get("release"),
        ),
    }


def _selection(layer_key: str, window_s: int | None) -> tuple[figures.HeatLayer, int]:
    layer = figures.HEAT_LAYERS.get(layer_key) or figures.HEAT_LAYERS[figures.DEFAULT_LAYER]
    return layer, int(window_s or DEFAULT_WINDOW)


def _pane_view(
    api: ApiClient, layer_key: str, window_s: int | None, at: str | None, ids: PaneIds
) -> dict[str, Any]:
    """A pane's outputs by ``id.property``, computed for everyone who asks the same."""
    layer, window_s = _selection(layer_key, window_s)
    snap = fetch(api, layer, window_s, at)
    text, css = status(api, snap)
    out = pane_outputs(snap, layer, window_s, ids, compact=context.current().compare is not None)
    return {
        "clock": views.clock(at or snap.stats.data.get("sim_time"), replay=at is not None),
        f"{ids.events}.children": out[ids.events],
        f"{ids.alerts_active}.children": out[ids.alerts_active],
        f"{ids.dead_letters}.children": out[ids.dead_letters],
        f"{ids.kinds}.children": out[ids.kinds],
        f"{ids.status}.children": text,
        f"{ids.status}.className": css,
        f"{ids.map}.figure": out[ids.map],
        f"{ids.feed}.children": out[ids.feed],
        f"{ids.heat}.children": out[ids.heat],
    }


PANE_KEYS = ("events", "alerts_active", "dead_letters", "kinds")


def _role() -> str | None:
    """The asker's role for a shared view's key (none when the session has expired: it
    computes its own, which the API refuses)."""
    user = auth.current_user() or {}
    return user.get("role") if flask.session.get("expires", 0) > time.time() else None


def _shared(
    api: ApiClient, layer_key: str, window_s: int | None, replay: dict | None, ids: PaneIds,
    shown: int | None,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    """This pane's outputs for the asking browser (only what changed since the version it
    shows) and the number of the version it will show."""
    at = (replay or {}).get("at")
    key = (api.base_url, _role(), i18n.current(), layer_key, window_s, at, ids.map)
    version = context.current().shared.view(
        key, lambda: _pane_view(api, layer_key, window_s, at, ids), (f"{ids.map}.figure",)
    )
    return context.current().shared.since(version, shown), version.number


def _pane_tuple(out: dict[str, Any], ids: PaneIds) -> tuple[Any, ...]:
    return (
        out[f"{ids.events}.children"],
        out[f"{ids.alerts_active}.children"],
        out[f"{ids.dead_letters}.children"],
        out[f"{ids.kinds}.children"],
        out[f"{ids.status}.children"],
        out[f"{ids.status}.className"],
        out[f"{ids.map}.figure"],
        out[f"{ids.feed}.children"],
        out[f"{ids.heat}.children"],
    )


@dash.callback(
    Output("situation-clock", "children"),
    Output(MAIN.events, "children"),
    Output(MAIN.alerts_active, "children"),
    Output(MAIN.dead_letters, "children"),
    Output(MAIN.kinds, "children"),
    Output(MAIN.status, "children"),
    Output(MAIN.status, "className"),
    Output(MAIN.map, "figure"),
    Output(MAIN.feed, "children"),
    Output(MAIN.heat, "children"),
    Output(VIEW_MAIN, "data"),
    Input("situation-interval", "n_intervals"),
    Input("situation-layer", "value"),
    Input("situation-window", "value"),
    Input("classroom-replay", "data"),
    State(VIEW_MAIN, "data"),
)
def refresh(
    _n: int, layer_key: str, window_s: int, replay: dict | None, shown: int | None = None
) -> tuple[Any, ...]:
    """Everything once per tick for the whole class, sent as what changed since the version
    this browser shows; an unreachable API shows as a banner."""
    out, number = _shared(context.current().api, layer_key, window_s, replay, MAIN, shown)
    return (out["clock"], *_pane_tuple(out, MAIN), number)


@dash.callback(
    Output(MAIN.title, "children"),
    Output(LANE.title, "children"),
    Output(LANE.events, "children"),
    Output(LANE.alerts_active, "children"),
    Output(LANE.dead_letters, "children"),
    Output(LANE.kinds, "children"),
    Output(LANE.status, "children"),
    Output(LANE.status, "className"),
    Output(LANE.map, "figure"),
    Output(LANE.feed, "children"),
    Output(LANE.heat, "children"),
    Output(VIEW_LANE, "data"),
    Input("situation-interval", "n_intervals"),
    Input("situation-layer", "value"),
    Input("situation-window", "value"),
    Input("classroom-replay", "data"),
    State(VIEW_LANE, "data"),
)
def refresh_lane(
    _n: int,
    layer_key: str,
    window_s: int,
    replay: dict | None = None,
    shown: int | None = None,
) -> tuple[Any, ...]:
    """The policy lane's pane and both panes' policies, on the same tick and selection.

    The left pane's policy is the main API's active one (it can be switched at run time);
    the right pane's is ``compare_policy``, or the lane API's own if that is not set."""
    ctx = context.current()
    lane = ctx.compare
    if lane is None:  # no lane: the page has no right pane
        raise PreventUpdate
    out, number = _shared(lane, layer_key, window_s, replay, LANE, shown)  # the main's time
    lane_policy = ctx.settings.compare_policy or lane.policies().data.get("active")
    return (
        views.pane_title(ctx.api.policies().data.get("active")),
        views.pane_title(lane_policy),
        *_pane_tuple(out, LANE),
        number,
    )


def _effect(api: ApiClient, window_s: int | None, at: str | None, ids: PaneIds) -> Any:
    """A pane's effect box, shared by everyone of the same role and language."""
    window = int(window_s or DEFAULT_WINDOW)
    key = ("effect", api.base_url, _role(), i18n.current(), window, at, ids.effect)

    def compute() -> dict[str, Any]:
        got = api.policy_effect(window, at)
        return {"children": effect_views.effect_panel(got.data, got.error)}

    return context.current().shared.view(key, compute)


@dash.callback(
    Output(MAIN.effect, "children"),
    Output(LANE.effect, "children"),
    Output(VIEW_EFFECT, "data"),
    Input("situation-interval", "n_intervals"),
    Input("situation-window", "value"),
    Input("classroom-replay", "data"),
    State(VIEW_EFFECT, "data"),
)
def refresh_effect(
    _n: int, window_s: int, replay: dict | None = None, shown: list | None = None
) -> tuple[Any, ...]:
    """What each pane's policy removed or changed in the window; sent only when it changed."""
    ctx = context.current()
    if ctx.compare is None:  # one pane: no comparison to explain
        raise PreventUpdate
    at = (replay or {}).get("at")
    versions = [_effect(ctx.api, window_s, at, MAIN), _effect(ctx.compare, window_s, at, LANE)]
    shown = shown if isinstance(shown, list) and len(shown) == 2 else [None, None]
    out = [
        dash.no_update if v.number == s else v.outputs["children"]
        for v, s in zip(versions, shown, strict=True)
    ]
    return (*out, [v.number for v in versions])
