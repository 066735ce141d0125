"""Dilemma cards for the lessons, with the command center's figures of now."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import auth, classroom, context, i18n
from dashboard.dilemma_views import card_view, cards, choice_labels
from dashboard.i18n import N_, _
from dashboard.votes import VoteError

dash.register_page(
    __name__,
    path="/dilemmas",
    name=N_("Dilemmas"),
    title=i18n.page_title(N_("Aqkol · dilemmas")),
    order=10,
    drawn="#dilemmas-cards .dilemma",
)

REFRESH_MS = 3000


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
            html.Div("", id="dilemmas-vote-msg", className="action-msg", role="status"),
            html.Div(id="dilemmas-cards", className="dilemmas"),
            dcc.Interval(id="dilemmas-interval", interval=REFRESH_MS),
        ],
        className="page page-dilemmas",
    )


@dash.callback(Output("dilemmas-cards", "children"), Input("dilemmas-interval", "n_intervals"))
def refresh(_n: int) -> list[Any]:
    """The cards with the live figures (the teacher's also with the ground truth)."""
    here = context.current()
    api = here.api
    teacher = classroom.is_teacher()
    metrics = api.metrics().data if teacher else None
    alerts = api.alerts(rule="watchlist-activist", limit=1000).data.get("items") or []
    tally = here.votes.tally() if teacher else {}
    user = auth.current_user()
    mine = here.votes.mine(user["username"]) if user else {}
    return [
        card_view(c, mine=mine.get(c.key), tally=tally.get(c.key), show_tally=teacher)
        for c in cards(api.stats().data, alerts, metrics)
    ]


@dash.callback(
    Output("dilemmas-vote-msg", "children"),
    Input({"type": "dilemma-vote", "card": ALL, "choice": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def vote(clicks: list[int | None]) -> str:
    """A vote from this browser's account (one per card; a new one replaces it)."""
    hit = ctx.triggered_id
    if not isinstance(hit, dict) or not any(clicks) or not (ctx.triggered[0].get("value")):
        raise PreventUpdate  # the cards were drawn again, nobody clicked
    user = auth.current_user()
    if user is None:
        return _("Log in to vote.")
    if hit.get("card") not in {c.key for c in cards({}, [], {"truth": True})}:
        raise PreventUpdate
    try:
        context.current().votes.cast(hit["card"], user["username"], hit["choice"])
    except VoteError as exc:
        return str(exc)
    return _("Your vote on this card: {choice}").format(choice=choice_labels()[hit["choice"]])
