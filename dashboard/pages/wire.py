"""The wire view: what an eavesdropper on the broker receives under the active policy.

A live sample of the raw messages on the broker (``GET /wire/sample``), each field coloured
by the privacy category the contract declares for it. Under ``edge-counts`` no plate, badge
or face match is on the wire; under ``gdpr-minimal`` they are (its policy runs at the
ingest, after the broker). Values a role may not receive are shown as withheld.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import context, i18n
from dashboard.i18n import N_, _
from dashboard.wire_views import CATEGORIES, message_view

dash.register_page(
    __name__,
    path="/wire",
    name=N_("Wire"),
    title=i18n.page_title(N_("Aqkol · wire")),
    order=60,
    drawn="#wire-sample .wire-msg",
)

MIN_REFRESH_MS = 3000
SAMPLE = 30


def layout(**_query: Any) -> html.Div:
    refresh_ms = max(context.current().settings.dashboard_refresh_ms, MIN_REFRESH_MS)
    legend = [
        html.Span(_(name), className=f"wire-field wire-{c}") for c, name in CATEGORIES.items()
    ]
    return html.Div(
        [
            html.H2(_("On the wire")),
            html.P(
                _(
                    "What anyone listening on the broker receives, before the command center "
                    "applies its policy. Only what the policy does at the edge keeps a field "
                    "off the wire."
                ),
                className="login-hint",
            ),
            html.Div(legend, className="wire-legend"),
            html.Div(id="wire-policy", className="status"),
            html.Div(id="wire-sample", className="wire-sample"),
            dcc.Interval(id="wire-interval", interval=refresh_ms),
        ],
        className="page wire",
    )


@dash.callback(
    Output("wire-sample", "children"),
    Output("wire-policy", "children"),
    Input("wire-interval", "n_intervals"),
)
def refresh_wire(_n: int | None) -> tuple[Any, ...]:
    """The newest messages on the broker, through the API (with the user's token)."""
    got = context.current().api.wire_sample(SAMPLE)
    if not got.ok:
        return [], got.error
    data = got.data
    edge = "; ".join(data.get("edge") or []) or _("nothing: every field goes on the wire")
    status = _("Policy: {policy} · at the edge: {edge}").format(
        policy=data.get("policy", ""), edge=edge
    )
    items = list(reversed(data.get("items") or []))
    if not items:
        return [html.P(_("Nothing on the wire yet (is the town running?)"))], status
    return [message_view(m) for m in items], status
