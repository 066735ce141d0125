"""The Lab: an experiment's privacy-utility frontier; a point leads to that policy's
situation room."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import context
from dashboard import lab_views as lv

dash.register_page(__name__, path="/lab", name="Lab", title="Aqkol · privacy lab")


def layout(**_query: Any) -> html.Div:
    """The page: choose a result, see its frontier and unicity curves."""
    results = lv.list_results()
    options = [{"label": f"{r['title']} ({r['id']})", "value": r["path"]} for r in results]
    return html.Div(
        [
            html.H2("Privacy lab"),
            html.P(
                [
                    "What each policy protects and what it costs, measured on the simulated "
                    "town against its ground truth (see docs/lab.md). Run an experiment with ",
                    html.Code("aqkol lab run experiments/policy-frontier.yaml"),
                    "; click a point to see that policy at work.",
                ],
                className="login-hint",
            ),
            dcc.Dropdown(
                id="lab-result",
                options=options,
                value=options[0]["value"] if options else None,
                clearable=False,
                placeholder="no results yet: run an experiment",
            ),
            dcc.Graph(id="lab-frontier", config={"displaylogo": False}),
            html.Div(id="lab-selected", className="lab-selected"),
            dcc.Graph(id="lab-unicity", config={"displaylogo": False}),
        ],
        className="page lab",
    )


@dash.callback(
    Output("lab-frontier", "figure"),
    Output("lab-unicity", "figure"),
    Input("lab-result", "value"),
)
def show_result(path: str | None) -> tuple[Any, Any]:
    """The figures of the chosen result."""
    folder = lv.result_folder(path)  # a client names it: one of the lab's folders, or none
    if folder is None:
        return {}, {}
    df, meta = lv.load(folder)
    return lv.frontier(df, meta), lv.unicity(df, meta)


@dash.callback(Output("lab-selected", "children"), Input("lab-frontier", "clickData"))
def follow_point(click: dict | None) -> Any:
    """A clicked point: its policy, and the way to its situation room."""
    if not click or not click.get("points"):
        return html.P("Click a point of the frontier to see that policy at work.")
    policy = click["points"][0].get("customdata")
    if isinstance(policy, list):
        policy = policy[0]
    return lv.policy_link(str(policy), context.current().settings.compare_policy)
