"""Log in: a plain form that posts to the dashboard's ``/auth/login`` (see dashboard/auth.py)."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from dashboard import i18n
from dashboard.auth import csrf_token
from dashboard.i18n import N_, _

dash.register_page(
    __name__,
    path="/login",
    name=N_("Log in"),
    title=i18n.page_title(N_("Aqkol · log in")),
    nav=False,
    order=90,
)

ERRORS = {
    "credentials": N_("Wrong user name or password."),
    "unreachable": N_("The API does not answer; is it running?"),
    "throttled": N_("Too many failed logins; wait a minute and try again."),
    "expired": N_("The form had expired; please log in again."),
}


def layout(error: str | None = None, next: str | None = None, **_query: Any) -> html.Div:
    """The login form; ``error`` and ``next`` come from the query string."""
    return html.Div(
        html.Form(
            [
                html.H1(_("Log in")),
                html.Div(
                    _(ERRORS[error]) if error in ERRORS else "",
                    id="login-error",
                    className="login-error",
                ),
                html.Label(
                    [
                        _("User name"),
                        dcc.Input(
                            id="login-username",
                            name="username",
                            type="text",
                            autoComplete="username",
                            required=True,
                        ),
                    ]
                ),
                html.Label(
                    [
                        _("Password"),
                        dcc.Input(
                            id="login-password",
                            name="password",
                            type="password",
                            autoComplete="current-password",
                            required=True,
                        ),
                    ]
                ),
                dcc.Input(id="login-next", name="next", type="hidden", value=next or "/"),
                dcc.Input(id="login-csrf", name="csrf_token", type="hidden", value=csrf_token()),
                html.Button(_("Log in"), id="login-submit", type="submit"),
                html.Div(
                    _(
                        "`aqkol up` prints the demo accounts (teacher, analyst, auditor, "
                        "student); `aqkol users add` makes more."
                    ),
                    className="login-hint",
                ),
            ],
            action="/auth/login",
            method="POST",
            id="login-form",
            className="login",
        ),
        className="page",
    )
