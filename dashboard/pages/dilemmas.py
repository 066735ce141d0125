"""Dilemma cards for the lessons, with the command center's figures of now."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import classroom, context
from dashboard.dilemma_views import card_view, cards
from dashboard.i18n import _

dash.register_page(__name__, path="/dilemmas", name="Dilemmas", title="Aqkol · dilemmas")

REFRESH_MS = 5000


def layout(**_query: Any) -> html.Div:
    """The cards; their figures refresh every few seconds."""
    return html.Div(
        [
            html.H1(_("Dilemmas"), className="page-title"),
            html.P(
                _(
                    "Each card shows what the command center holds right now. Discuss, then vote: "
                    "keep it, keep it with limits, or do not collect it."
                ),
                className="page-intro",
            ),
            html.Div(id="dilemmas-cards", className="dilemmas"),
            dcc.Interval(id="dilemmas-interval", interval=REFRESH_MS),
        ],
        className="page page-dilemmas",
    )


@dash.callback(Output("dilemmas-cards", "children"), Input("dilemmas-interval", "n_intervals"))
def refresh(_n: int) -> list[Any]:
    """The cards with the live figures (the teacher's also with the ground truth)."""
    api = context.current().api
    metrics = api.metrics().data if classroom.is_teacher() else None
    alerts = api.alerts(rule="watchlist-activist", limit=1000).data.get("items") or []
    return [card_view(c) for c in cards(api.stats().data, alerts, metrics)]
