"""Transparency, for the auditor: the audit log with the state of its hash chain, the grants of
identity reveals, and the sensor register."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dash_table, dcc, html

from dashboard import context, fmt, i18n
from dashboard import transparency_views as tv
from dashboard.i18n import N_, _, ngettext
from dashboard.pages.rules import TABLE_STYLE

dash.register_page(
    __name__,
    path="/transparency",
    name=N_("Transparency"),
    title=i18n.page_title(N_("Aqkol · transparency")),
    order=40,
    drawn="#transparency-register .device",
)

AUDIT_LIMIT = 200
ACTS_LIMIT = 1000  # the API's page; a class does not make more acts than reads
MIN_REFRESH_MS = 5000
COLUMNS = [
    {"name": "#", "id": "id"},
    {"name": N_("when (UTC+6)"), "id": "at"},
    {"name": N_("who"), "id": "actor"},
    {"name": N_("role"), "id": "role"},
    {"name": N_("action"), "id": "action"},
    {"name": N_("what"), "id": "target"},
    {"name": N_("why / parameters"), "id": "why"},
]


def columns() -> list[dict[str, str]]:
    """The audit tables' columns, titled in the current request's language."""
    return [{**c, "name": _(c["name"]) if c["name"] != "#" else "#"} for c in COLUMNS]


def layout(**_query: Any) -> html.Div:
    """The page; the log refreshes every few seconds."""
    refresh_ms = max(context.current().settings.dashboard_refresh_ms, MIN_REFRESH_MS)
    return html.Div(
        [
            html.H2(_("Audit log")),
            html.P(
                _(
                    "Every identity reveal and every query of personal data, hash-chained: "
                    "each entry's hash covers the one before, so an edited or removed entry "
                    "shows."
                ),
                className="login-hint",
            ),
            html.Div(_("checking…"), id="transparency-chain", className="chain unknown"),
            html.H3(_("Reveals and changes")),
            html.P(
                _(
                    "Every identity reveal, rule edit, alert decision, policy switch and control "
                    "of the town, however many reads the log holds."
                ),
                className="login-hint",
            ),
            dash_table.DataTable(
                id="transparency-acts",
                columns=columns(),
                data=[],
                page_size=10,
                sort_action="native",
                filter_action="native",
                filter_options={"placeholder_text": _("filter…")},
                **TABLE_STYLE,
            ),
            html.H3(_("Everything, newest first")),
            html.Div(id="transparency-audit-status", className="status"),
            dash_table.DataTable(
                id="transparency-audit",
                columns=columns(),
                data=[],
                page_size=25,
                sort_action="native",
                filter_action="native",
                filter_options={"placeholder_text": _("filter…")},
                **TABLE_STYLE,
            ),
            html.H2(_("Sensor register")),
            html.Div(id="transparency-register-title", className="login-hint"),
            html.Div(id="transparency-register", className="register"),
            dcc.Interval(id="transparency-interval", interval=refresh_ms),
        ],
        className="page transparency",
    )


@dash.callback(
    Output("transparency-chain", "children"),
    Output("transparency-chain", "className"),
    Output("transparency-audit", "data"),
    Output("transparency-audit-status", "children"),
    Output("transparency-acts", "data"),
    Input("transparency-interval", "n_intervals"),
)
def refresh_audit(_n: int | None) -> tuple[Any, ...]:
    """The chain verdict, every act, and the newest audit entries."""
    api = context.current().api
    log = api.audit(AUDIT_LIMIT)
    if not log.ok:
        return _("Chain not checked"), "chain unknown", [], log.error, []
    text, css = tv.chain_status(api.audit_verify())
    total = log.data.get("total", 0)
    shown = len(log.data.get("items", []))
    acts = api.audit(ACTS_LIMIT, reads=False).data.get("items", [])
    status = ngettext(
        "{shown} newest of {total} entry", "{shown} newest of {total} entries", total
    ).format(shown=fmt.count(shown), total=fmt.count(total))
    return text, css, tv.audit_rows(log.data.get("items", [])), status, tv.audit_rows(acts)


@dash.callback(
    Output("transparency-register", "children"),
    Output("transparency-register-title", "children"),
    Input("transparency-interval", "id"),
)
def show_register(_id: str) -> tuple[Any, ...]:
    """The register, once per page load."""
    reg = context.current().api.register()
    if not reg.ok:
        return [], reg.error
    title = _("{title} · operated by {operator}").format(
        title=reg.data.get("title", ""), operator=reg.data.get("operator", "")
    )
    return [tv.device_card(d) for d in reg.data.get("devices", [])], title
