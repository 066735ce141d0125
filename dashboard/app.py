"""The Dash app: Dash Pages from ``dashboard/pages``, served fully offline.

``create_app()`` builds an app; ``run()`` serves it; ``server`` (built on first access)
is the Flask server for a WSGI host: ``waitress-serve dashboard.app:server`` (or gunicorn).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import dash
from dash import dcc, html

from dashboard import auth, context, i18n
from dashboard.api_client import ApiClient
from dashboard.i18n import N_, _
from dashboard.pages import nav_pages
from dashboard.settings import DashboardSettings, get_settings
from dashboard.shared import SharedView
from dashboard.votes import VoteBook

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGES_FOLDER = HERE / "pages"
ASSETS_FOLDER = HERE / "assets"
TITLE = "Aqkol situation room"
ROLES = {  # the API's roles, as the top bar names them
    "teacher": N_("teacher"),
    "analyst": N_("analyst"),
    "auditor": N_("auditor"),
    "student": N_("student"),
}


def _navigation() -> html.Nav:
    """A link to each page the user's role sees, as the pages declare (dashboard/pages)."""
    user = auth.current_user()
    links = [
        dcc.Link(_(page["name"]), href=page["relative_path"], className="nav-link")
        for page in nav_pages(user["role"] if user else None)
    ]
    return html.Nav(links, className="nav", **{"aria-label": _("Pages")})


def _languages() -> html.Div:
    """The language switch: a full page load, so that the whole layout is rebuilt in it."""
    here = i18n.current()
    return html.Div(
        [
            html.A(
                code.upper(),
                href=f"/lang/{code}",
                id=f"lang-{code}",
                title=name,
                lang=code,
                className="lang-link" + (" lang-current" if code == here else ""),
                **{"aria-label": name, **({"aria-current": "true"} if code == here else {})},
            )
            for code, name in i18n.LANGUAGES.items()
        ],
        id="lang-switch",
        className="lang-switch",
        role="group",
        **{"aria-label": _("Language")},
    )


def _who() -> html.Div:
    """Who is logged in, and the way out."""
    user = auth.current_user()
    if user is None:
        return html.Div(_("not logged in"), id="topbar-user", className="topbar-user")
    return html.Div(
        [
            html.Span(user["username"], className="topbar-user-name"),
            html.Span(
                _(ROLES[user["role"]]) if user["role"] in ROLES else user["role"],
                className="topbar-user-role",
            ),
            html.A(_("Log out"), href="/auth/logout", id="topbar-logout", className="nav-link"),
        ],
        id="topbar-user",
        className="topbar-user",
    )


def _layout() -> html.Div:
    """The frame around every page; built per request, once pages are registered."""
    return html.Div(
        [
            # the first stop of the Tab key: past the navigation, straight to the page
            html.A(_("Skip to content"), href="#main", id="skip-link", className="skip-link"),
            html.Header(
                [
                    html.Div(
                        [
                            html.Span("AQKOL", className="brand-name"),
                            html.Span(
                                _("command center · educational sandbox"), className="brand-sub"
                            ),
                        ],
                        className="brand",
                    ),
                    _navigation(),
                    html.Div(_("Synthetic town, synthetic people"), className="sandbox-note"),
                    _languages(),
                    _who(),
                ],
                className="topbar",
            ),
            html.Main(dash.page_container, id="main", tabIndex="-1", className="app-main"),
        ],
        className="app",
        # names that assets/a11y.js gives the parts of Dash components it repairs
        **{
            "data-a11y-row": _("select row {n}"),
            "data-a11y-filter": _("filter {column}"),
            "data-a11y-case": _("match case: {column}"),
            "data-a11y-slider": _("slider"),
        },
    )


class _Dash(dash.Dash):
    """Dash, with the page's language on its ``<html>`` element (screen readers pick the
    voice by it; the language switch sets it per request)."""

    def interpolate_index(self, **kwargs: Any) -> str:
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{i18n.current()}">', 1)


def create_app(
    settings: DashboardSettings | None = None,
    *,
    api: ApiClient | None = None,
    compare: ApiClient | None = None,
) -> dash.Dash:
    """Build the dashboard against ``settings.api_url`` (or a given client, for tests).

    With ``settings.compare_api_url`` (or a given ``compare`` client) the situation room shows
    that policy lane's API beside the main one; the same login token is sent to both."""
    settings = settings or get_settings()
    app = _Dash(
        "dashboard",
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        assets_folder=str(ASSETS_FOLDER),
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        title=TITLE,
        update_title=None,
        suppress_callback_exceptions=True,  # pages' components appear only on their page
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    # an API over HTTPS with our own certificate (aqkol up --tls) is checked against it
    verify: Any = True
    if settings.tls_cert:
        verify = ssl.create_default_context(cafile=str(settings.tls_cert))
    api = api or ApiClient(settings.api_url, verify=verify)
    if compare is None and settings.compare_api_url:
        compare = ApiClient(settings.compare_api_url, verify=verify)
    if compare is not None and compare.token is None:
        compare.token = auth.session_token
    auth.install(app.server, settings, api)
    i18n.install(app.server)
    # a class's browsers tick at different moments: a view is shared for half a refresh
    shared = SharedView(ttl_s=settings.dashboard_refresh_ms / 2000)
    votes = VoteBook(settings.var_dir / "votes.json")
    context.attach(app, context.DashboardContext(settings, api, compare, shared, votes))
    app.layout = _layout
    return app


def make_server(settings: DashboardSettings | None = None) -> Any:
    """The Flask server of a new app, for WSGI hosts (gunicorn)."""
    return create_app(settings).server


def run(settings: DashboardSettings | None = None) -> None:
    """Serve the dashboard on ``dashboard_host:dashboard_port`` with waitress (a production
    WSGI server that also runs on Windows and macOS; one thread per concurrent request)."""
    import waitress

    settings = settings or get_settings()
    app = create_app(settings)
    tls = settings.tls_cert and settings.tls_key
    log.info(
        "dashboard on %s://%s:%s (API %s%s)",
        "https" if tls else "http",
        settings.dashboard_host,
        settings.dashboard_port,
        settings.api_url,
        f", compared with {settings.compare_api_url}" if settings.compare_api_url else "",
    )
    if tls:  # waitress speaks no TLS: werkzeug's threaded server does, for `aqkol up --tls`
        ssl = (str(settings.tls_cert), str(settings.tls_key))
        app.run(
            host=settings.dashboard_host, port=settings.dashboard_port, debug=False, ssl_context=ssl
        )
        return
    waitress.serve(
        app.server,
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        threads=settings.dashboard_threads,
        ident="aqkol",  # the Server header names no version
        connection_limit=1000,
        channel_timeout=60,
    )


def __getattr__(name: str) -> Any:
    # ``from dashboard.app import server`` builds the app on first use, not on import
    if name == "server":
        global server
        server = make_server()
        return server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
