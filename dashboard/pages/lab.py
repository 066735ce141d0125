"""The Lab: an experiment's privacy-utility frontier; a point leads to that policy's
situation room."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html

from dashboard import auth, context, fmt, i18n
from dashboard import lab_views as lv
from dashboard.i18n import N_, _

dash.register_page(
    __name__,
    path="/lab",
    name=N_("Lab"),
    title=i18n.page_title(N_("Aqkol · privacy lab")),
    order=20,
    drawn="#lab-frontier .main-svg",
)

QUICK_MS = 3000


def layout(**_query: Any) -> html.Div:
    """The page: choose a result, see its frontier and unicity curves."""
    api = context.current().api
    options = lv.options(api.lab_runs().data["items"])
    return html.Div(
        [
            html.H2(_("Privacy lab")),
            html.P(
                [
                    _(
                        "What each policy protects and what it costs, measured on the simulated "
                        "town against its ground truth (see docs/lab.md). Run an experiment with"
                    )
                    + " ",
                    html.Code("aqkol lab run experiments/policy-frontier.yaml"),
                    _("; click a point to see that policy at work."),
                ],
                className="login-hint",
            ),
            html.Div(
                [
                    html.Div(
                        _quick_text(api.lab_job().data),
                        id="lab-quick-status",
                        className="lab-quick-status",
                        role="status",
                    ),
                    *(
                        [
                            html.Button(
                                _("Run the quick experiment"),
                                id="lab-quick-run",
                                n_clicks=0,
                                className="btn",
                            )
                        ]
                        if _teacher()
                        else []
                    ),
                    dcc.Interval(id="lab-quick-interval", interval=QUICK_MS),
                ],
                className="lab-quick",
            ),
            html.Label(_("Result"), htmlFor="lab-result", className="control-label"),
            dcc.Dropdown(
                id="lab-result",
                options=options,
                value=options[0]["value"] if options else None,
                clearable=False,
                placeholder=_("no results yet: run an experiment"),
            ),
            dcc.Graph(id="lab-frontier", config=i18n.graph_config({"displaylogo": False})),
            html.Div(id="lab-selected", className="lab-selected"),
            dcc.Graph(id="lab-unicity", config=i18n.graph_config({"displaylogo": False})),
        ],
        className="page lab",
    )


@dash.callback(
    Output("lab-frontier", "figure"),
    Output("lab-unicity", "figure"),
    Output("lab-frontier", "style"),
    Output("lab-unicity", "style"),
    Input("lab-result", "value"),
)
def show_result(run_id: str | None) -> tuple[Any, Any, Any, Any]:
    """The figures of the chosen result, as the API serves them; no empty axes while there
    is none."""
    hidden = {"display": "none"}
    if not run_id:
        return {}, {}, hidden, hidden
    got = context.current().api.lab_result(run_id)
    figures, experiment = got.data["figures"], got.data["experiment"]
    if not got.ok or not {"frontier", "unicity"} <= figures.keys():
        return {}, {}, hidden, hidden
    return (
        lv.frontier(figures["frontier"], experiment),
        lv.unicity(figures["unicity"], experiment),
        {},
        {},
    )


def _teacher() -> bool:
    user = auth.current_user()
    return bool(user and user.get("role") == "teacher")


def _quick_text(st: dict[str, Any]) -> str:
    if st["running"] and not (st["finished"] and st["done"] >= st["cells"]):
        return _(
            "A quick experiment is running in the background: {done} of {cells} cells done. "
            "Its result appears here when it is finished."
        ).format(done=fmt.count(st["done"]), cells=fmt.count(st["cells"]))
    if st["finished"]:
        return _("The quick experiment's result is in the list (a tenth of the town, six hours).")
    return _("No result yet: a teacher can run the quick experiment (about a minute).")


@dash.callback(
    Output("lab-quick-status", "children"),
    Output("lab-result", "options"),
    Output("lab-result", "value"),
    Input("lab-quick-interval", "n_intervals"),
    State("lab-result", "value"),
)
def follow_quick(_n: int | None, chosen: str | None) -> tuple[Any, Any, Any]:
    """The quick experiment's progress; its result chosen once it is there."""
    api = context.current().api
    st = api.lab_job().data
    options = lv.options(api.lab_runs().data["items"])
    paths = [o["value"] for o in options]
    if chosen not in paths:
        chosen = paths[0] if paths else None
    return _quick_text(st), options, chosen


@dash.callback(
    Output("lab-quick-status", "children", allow_duplicate=True),
    Input("lab-quick-run", "n_clicks"),
    prevent_initial_call=True,
)
def run_quick(clicks: int | None) -> str:
    """A teacher starts the quick experiment (once at a time)."""
    if not clicks or ctx.triggered_id != "lab-quick-run":
        raise dash.exceptions.PreventUpdate
    if not _teacher():
        return _("Only a teacher may start an experiment.")
    got = context.current().api.start_lab_job()  # the API checks the role too
    if not got.ok:
        return got.error or ""
    if not got.data["started"]:
        return _quick_text(got.data)
    return _("The quick experiment has started; its progress shows here.")


@dash.callback(Output("lab-selected", "children"), Input("lab-frontier", "clickData"))
def follow_point(click: dict | None) -> Any:
    """A clicked point: its policy, and the way to its situation room."""
    if not click or not click.get("points"):
        return html.P(_("Click a point of the frontier to see that policy at work."))
    policy = click["points"][0].get("customdata")
    if isinstance(policy, list):
        policy = policy[0]
    return lv.policy_link(str(policy), context.current().settings.compare_policy)
