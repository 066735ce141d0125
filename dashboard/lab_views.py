"""The Lab page's content as pure functions: the figures the API serves, the policy link.

The lab writes each result's figures as Plotly JSON beside its results; the API serves
them (``GET /lab/runs/{id}``), and the page draws them in the reader's language: titles,
axes and the paper's reference points are translated here, the data stays as the lab drew it.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard.i18n import N_, _

# the lab's name of the paper's reference points (in the figure's layout.meta), translated
PAPER_SHOWN = N_("de Montjoye 2013 (1.5M people, antennas, hourly)")


def options(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The results to choose from, as the API lists them (newest first)."""
    return [{"label": f"{r['title']} ({r['id']})", "value": r["id"]} for r in runs]


def _meta(fig: go.Figure) -> dict[str, Any]:
    meta = fig.layout.meta
    return meta if isinstance(meta, dict) else {}


def frontier(figure: dict[str, Any], experiment: dict[str, Any]) -> go.Figure:
    """The privacy-utility frontier (a point per policy and parameters; each point's
    customdata is its policy)."""
    fig = go.Figure(figure)
    meta = _meta(fig)
    fig.update_layout(
        title=experiment.get("title") or _("Privacy-utility frontier"),
        xaxis_title=_("{metric} (utility lost; bars: 95% CI over seeds)").format(
            metric=meta.get("utility", "")
        ),
        yaxis_title=_("{metric} (privacy risk)").format(metric=meta.get("privacy", "")),
    )
    return fig


def unicity(figure: dict[str, Any], experiment: dict[str, Any]) -> go.Figure:
    """Unicity against the number of known points, with the paper's reference points."""
    fig = go.Figure(figure)
    fig.update_layout(
        title=experiment.get("title") or _("Unicity by known points"),
        xaxis_title=_("known points (p)"),
        yaxis_title=_("share of traced people unique"),
    )
    paper = _meta(fig).get("paper")
    if paper:
        fig.update_traces(name=_(PAPER_SHOWN), selector={"name": paper})
    return fig


def policy_link(policy: str, compare_policy: str | None) -> list[Any]:
    """Where to see ``policy`` at work: the situation room, with what to start if needed."""
    link = dcc.Link(
        _("Open the situation room for {policy}").format(policy=policy),
        href=f"/?policy={policy}",
        id="lab-open-situation",
    )
    if compare_policy == policy:
        how = html.P(
            _(
                "A lane stores the stream under this policy: the situation room shows it "
                "beside the main store."
            )
        )
    else:
        how = html.P(
            [
                _("No lane runs this policy now. Start one with") + " ",
                html.Code(f"aqkol up --compare {policy}"),
                " " + _("(or make it the main store's with") + " ",
                html.Code(f"aqkol policy use {policy}"),
                _("), then open the situation room."),
            ]
        )
    return [html.H3(policy), how, link]
