"""Rules: the alert rules with their state, an editor that validates as you type, a replay
of today through the edited rule, and the open alerts to acknowledge or clear.

The strings users see are in :data:`dashboard.rules_views.TEXT`, translated by ``rv.t``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, ctx, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import context, figures, i18n
from dashboard import rules_views as rv
from dashboard.api_client import is_unreachable
from dashboard.rules_views import TEXT, t

dash.register_page(
    __name__,
    path="/rules",
    name=TEXT["page_name"],
    title=i18n.page_title(TEXT["page_title"]),
    order=30,
    drawn="#rules-select label",
)

ALERT_LIMIT = 200
MIN_RULES_REFRESH_MS = 5000  # counts change slowly; the list need not follow every tick
VALIDATE_DEBOUNCE_MS = 400
DEFAULT_BY = "analyst"
GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"filename": "aqkol-rule-preview"}}

SEVERITY_COLOURS = {
    "CRITICAL": "#ff3b3b",
    "MAJOR": "#fb923c",
    "MINOR": "#fbbf24",
    "WARNING": "#fbbf24",
    "INFO": "#60a5fa",
}
TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto"},
    "style_header": {
        "backgroundColor": "#16213a",
        "color": "#94a3b8",
        "fontWeight": "700",
        "border": "1px solid #263450",
        "textTransform": "uppercase",
        "fontSize": "13px",
    },
    "style_cell": {
        "backgroundColor": "#111a2c",
        "color": "#e5e7eb",
        "border": "1px solid #263450",
        "fontFamily": "system-ui, 'DejaVu Sans', Arial, sans-serif",
        "fontSize": "15px",
        "textAlign": "left",
        "padding": "6px 8px",
        "maxWidth": "360px",
        "overflow": "hidden",
        "textOverflow": "ellipsis",
    },
    "style_data_conditional": [
        {
            "if": {"filter_query": f'{{severity}} = "{sev}"', "column_id": "severity_shown"},
            "color": colour,
            "fontWeight": "800",
        }
        for sev, colour in SEVERITY_COLOURS.items()
    ]
    + [
        {"if": {"filter_query": '{state} = "acknowledged"'}, "color": "#cbd5e1"},
        {"if": {"filter_query": '{state} = "cleared"'}, "color": "#94a3b8"},
        {"if": {"state": "selected"}, "backgroundColor": "#0e3a57", "border": "1px solid #38bdf8"},
    ],
}

# debounce in the browser: each keystroke restarts the wait; only the last one is checked
_DEBOUNCE_JS = f"""
async function (text) {{
    const dc = window.dash_clientside;
    const token = (window.__aqkolRuleEdit = (window.__aqkolRuleEdit || 0) + 1);
    await new Promise(resolve => setTimeout(resolve, {VALIDATE_DEBOUNCE_MS}));
    return token === window.__aqkolRuleEdit ? (text || "") : dc.no_update;
}}
"""


def _label(text: str) -> html.Span:
    return html.Span(text, className="control-label")


def _rules_column(selected: str | None) -> html.Aside:
    return html.Aside(
        [
            html.H2(t("list_title"), id="rules-select-label", className="panel-title"),
            dcc.RadioItems(
                id="rules-select",
                options=[],
                value=selected,
                className="rules-list",
                labelClassName="rules-option",
                labelStyle={"display": "block"},
                inputClassName="rules-radio",
            ),
        ],
        id="rules-list",
        className="rules-panel",
    )


def _editor_column() -> html.Section:
    return html.Section(
        [
            html.H2(t("editor_title"), className="panel-title"),
            html.Div(id="rules-editor-title", className="editor-title"),
            dcc.Textarea(
                id="rules-editor",
                value="",
                placeholder=t("editor_placeholder"),
                spellCheck=False,
                className="rule-editor",
                rows=18,
            ),
            html.Div(id="rules-validation", className="editor-msg"),
            html.Div(
                [
                    html.Button(t("save"), id="rules-save", n_clicks=0, className="btn"),
                    html.Button(
                        t("preview"), id="rules-preview", n_clicks=0, className="btn btn-accent"
                    ),
                    html.Div(id="rules-save-msg", className="save-msg"),
                ],
                className="editor-actions",
            ),
            dcc.Loading(
                html.Div(
                    [
                        html.Div(id="rules-preview-summary", className="preview-summary"),
                        html.Div(
                            dcc.Graph(
                                id="rules-preview-graph",
                                figure=figures.alert_timeline([]),
                                config=i18n.graph_config(GRAPH_CONFIG),
                            ),
                            id="rules-preview-box",
                            className="preview-graph hidden",
                        ),
                    ]
                ),
                type="dot",
                color="#38bdf8",
            ),
            dcc.Store(id="rules-editor-debounced"),
        ],
        className="editor-panel",
    )


def _alerts_section() -> html.Section:
    return html.Section(
        [
            html.H2(t("alerts_title"), className="panel-title"),
            html.Div(
                [
                    html.Div(
                        [
                            _label(t("alerts_state")),
                            dcc.RadioItems(
                                id="alerts-state",
                                options=rv.state_filters(),
                                value=rv.DEFAULT_STATE_FILTER,
                                className="segmented",
                                inline=True,
                            ),
                        ],
                        className="control",
                    ),
                    dcc.Checklist(
                        id="alerts-this-rule",
                        options=[{"label": t("alerts_this_rule"), "value": "rule"}],
                        value=[],
                        className="checkbox",
                    ),
                    html.Div(
                        [
                            _label(t("alerts_by")),
                            dcc.Input(
                                id="alerts-by",
                                value=DEFAULT_BY,
                                placeholder=t("alerts_by_placeholder"),
                                maxLength=64,
                                className="text-input",
                            ),
                        ],
                        className="control",
                    ),
                    html.Div(
                        [
                            _label(t("alerts_reason")),
                            dcc.Input(
                                id="alerts-reason",
                                value="",
                                placeholder=t("alerts_reason_placeholder"),
                                maxLength=256,
                                className="text-input wide",
                            ),
                        ],
                        className="control",
                    ),
                ],
                className="controls",
            ),
            html.Div(
                [
                    html.Button(t("acknowledge"), id="alerts-ack", n_clicks=0, className="btn"),
                    html.Button(t("clear"), id="alerts-clear", n_clicks=0, className="btn"),
                    html.Button(
                        rv.clear_rule_label(None),
                        id="alerts-clear-rule",
                        n_clicks=0,
                        disabled=True,
                        className="btn btn-danger",
                    ),
                    html.Div(id="alerts-msg", className="action-msg"),
                ],
                className="editor-actions",
            ),
            dash_table.DataTable(
                id="alerts-table",
                columns=rv.alert_columns(),
                data=[],
                row_selectable="multi",
                selected_rows=[],
                page_size=25,
                sort_action="native",
                cell_selectable=False,
                **TABLE_STYLE,
            ),
        ],
        className="alerts-section",
    )


def layout(rule: str | None = None, **_query: Any) -> html.Div:
    """The page; ``/rules?rule=large-group`` opens that rule in the editor."""
    refresh_ms = context.current().settings.dashboard_refresh_ms
    return html.Div(
        [
            html.Div(
                [
                    html.H1(t("heading"), className="page-title"),
                    html.P(t("intro"), className="page-intro"),
                ],
                className="page-head",
            ),
            html.Div(id="rules-status", className="status hidden"),
            html.Div([_rules_column(rule), _editor_column()], className="rules-main"),
            _alerts_section(),
            dcc.Store(id="rules-saved", data=0),
            dcc.Interval(
                id="rules-interval", interval=max(refresh_ms, MIN_RULES_REFRESH_MS), n_intervals=0
            ),
            dcc.Interval(id="alerts-interval", interval=refresh_ms, n_intervals=0),
        ],
        className="page page-rules",
    )


@dash.callback(
    Output("rules-select", "options"),
    Output("rules-status", "children"),
    Output("rules-status", "className"),
    Input("rules-interval", "n_intervals"),
    Input("rules-saved", "data"),
)
def refresh_rules(_n: int, _saved: int) -> tuple[Any, ...]:
    """The rule list with states and alert counts; a banner when the API is away."""
    api = context.current().api
    fetched = api.rules()
    if not fetched.ok:
        status = fetched.error or ""
        if is_unreachable(fetched.error):
            status = f"{t('unreachable')} — {api.base_url}"
        return rv.rule_options(fetched.data["items"]), status, "status error"
    return rv.rule_options(fetched.data["items"]), "", "status hidden"


@dash.callback(
    Output("rules-editor", "value"),
    Output("rules-editor-title", "children"),
    Output("rules-save-msg", "children"),
    Output("rules-save-msg", "className"),
    Output("rules-preview-summary", "children"),
    Output("rules-preview-box", "className"),
    Input("rules-select", "value"),
)
def open_rule(rule_id: str | None) -> tuple[Any, ...]:
    """Load the selected rule's YAML into the editor and forget the last save and preview."""
    if not rule_id:
        return "", rv.editor_title(None, None), "", "save-msg", [], "preview-graph hidden"
    fetched = context.current().api.rule(rule_id)
    text = fetched.data.get("text") or ""
    return text, rv.editor_title(fetched, rule_id), "", "save-msg", [], "preview-graph hidden"


dash.clientside_callback(
    _DEBOUNCE_JS,
    Output("rules-editor-debounced", "data"),
    Input("rules-editor", "value"),
)


@dash.callback(
    Output("rules-validation", "children"),
    Output("rules-validation", "className"),
    Input("rules-editor-debounced", "data"),
)
def validate(text: str | None) -> tuple[str, str]:
    """Check the editor's text once typing pauses: ``line N: message`` or what it needs."""
    if not (text or "").strip():
        return "", "editor-msg"
    return rv.validation_message(context.current().api.validate_rule(text or ""))


@dash.callback(
    Output("rules-save-msg", "children", allow_duplicate=True),
    Output("rules-save-msg", "className", allow_duplicate=True),
    Output("rules-saved", "data"),
    Input("rules-save", "n_clicks"),
    State("rules-editor", "value"),
    State("rules-select", "value"),
    State("rules-saved", "data"),
    prevent_initial_call=True,
)
def save(n_clicks: int, text: str | None, rule_id: str | None, saved: int) -> tuple[Any, ...]:
    """PUT the text; a refusal shows its line and reason and the editor keeps the text."""
    if not n_clicks:
        raise PreventUpdate
    if not rule_id:
        return t("save_needs_rule"), "save-msg error", dash.no_update
    fetched = context.current().api.save_rule(rule_id, text or "")
    message, css = rv.save_message(fetched)
    return message, css, (saved or 0) + 1 if fetched.ok else dash.no_update


@dash.callback(
    Output("rules-preview-summary", "children", allow_duplicate=True),
    Output("rules-preview-graph", "figure"),
    Output("rules-preview-box", "className", allow_duplicate=True),
    Input("rules-preview", "n_clicks"),
    State("rules-editor", "value"),
    prevent_initial_call=True,
)
def preview(n_clicks: int, text: str | None) -> tuple[Any, ...]:
    """Replay today through the editor's rule (saved or not): summary and alert timeline."""
    if not n_clicks or not (text or "").strip():
        raise PreventUpdate
    fetched = context.current().api.preview_rule(text or "")
    summary = rv.preview_summary(fetched)
    if not fetched.ok:
        return summary, dash.no_update, "preview-graph hidden"
    alerts = rv.local_alerts(fetched.data.get("alerts") or [])
    figure = figures.alert_timeline(alerts)
    return summary, figure, "preview-graph" if alerts else "preview-graph hidden"


@dash.callback(
    Output("alerts-table", "data"),
    Output("alerts-table", "selected_rows"),
    Output("alerts-msg", "children"),
    Output("alerts-msg", "className"),
    Output("alerts-clear-rule", "children"),
    Output("alerts-clear-rule", "disabled"),
    Input("alerts-interval", "n_intervals"),
    Input("alerts-state", "value"),
    Input("alerts-this-rule", "value"),
    Input("rules-select", "value"),
    Input("alerts-ack", "n_clicks"),
    Input("alerts-clear", "n_clicks"),
    Input("alerts-clear-rule", "n_clicks"),
    State("alerts-table", "selected_row_ids"),
    State("alerts-by", "value"),
    State("alerts-reason", "value"),
)
def alerts_table(
    _n: int,
    state: str | None,
    this_rule: list[str] | None,
    rule_id: str | None,
    _ack: int,
    _clear: int,
    _clear_rule: int,
    selected_ids: list[Any] | None,
    by: str | None,
    reason: str | None,
) -> tuple[Any, ...]:
    """Act on the selected alerts (or all of a rule) when a button was pressed, then list."""
    api = context.current().api
    by = (by or "").strip()[:64] or DEFAULT_BY
    message: Any = dash.no_update
    css: Any = dash.no_update
    keep = list(selected_ids or [])
    trigger = ctx.triggered_id
    if trigger in ("alerts-ack", "alerts-clear"):
        if not keep:
            message, css = t("select_first"), "action-msg warn"
        else:
            action = "acknowledge" if trigger == "alerts-ack" else "clear"
            done = api.alert_action(
                action, keep, by=by, reason=(reason or None) if action == "clear" else None
            )
            message, css = rv.action_message(action, done, len(keep))
            if done.ok:
                keep = []
    elif trigger == "alerts-clear-rule" and rule_id:
        done = api.alert_action("clear", [], rule=rule_id, by=by, reason=reason or None)
        message, css = rv.action_message("clear", done, 0, rule=rule_id)
        if done.ok:
            keep = []

    wanted = state if state in rv.STATE_FILTERS else rv.DEFAULT_STATE_FILTER
    only = rule_id if (this_rule and rule_id) else None
    fetched = api.alerts(wanted, rule=only, limit=ALERT_LIMIT)
    rows = rv.alert_rows(fetched.data["items"])
    if not fetched.ok and message is dash.no_update:
        message, css = fetched.error, "action-msg error"
    return (
        rows,
        rv.selected_rows(rows, keep),
        message,
        css,
        rv.clear_rule_label(rule_id),
        not rule_id,
    )
