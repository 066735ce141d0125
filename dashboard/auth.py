"""Login on the dashboard: a form posts to ``/auth/login``, which asks the API for a token and
keeps it in the signed session cookie; the API client forwards it on every call.

Pages are sent only to a logged-in browser; anything else goes to ``/login``. The API
applies the role matrix, so the dashboard holds no privilege of its own.

The login form carries Flask-WTF's CSRF token (a login forged from another site would log the
victim in as the forger); the session cookie is HttpOnly and SameSite=Lax, so another site's
POST carries no session, and Dash's callbacks accept JSON only, which a cross-site form
cannot send. The cookie is ``Secure`` whenever the page came over HTTPS. Failed logins are
limited by the API, per account and browser (services/auth/ratelimit.py): the dashboard
forwards the browser's address in a header signed with a key derived from the shared
secret. Callbacks answer only a logged-in browser (the login page's own drawing excepted);
logging out ends the API token.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import flask
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard.api_client import ApiClient, is_unreachable
from dashboard.settings import DashboardSettings
from services.events import quietlog
from services.events.keys import client_signature

LOGIN_PATH = "/login"
# /lang/ only sets the language cookie and goes back to a path of this site: no data
OPEN_PREFIXES = ("/assets/", "/_dash-", "/_favicon", "/_reload-hash", "/auth/", "/lang/")
SESSION_KEYS = ("token", "username", "role", "expires")


def session_token() -> str | None:
    """The logged-in user's API token, in a request; None outside one or when logged out."""
    if not flask.has_request_context():
        return None
    return flask.session.get("token")


def current_user() -> dict[str, Any] | None:
    """``{username, role}`` of the logged-in user, if any."""
    if not flask.has_request_context() or not flask.session.get("token"):
        return None
    return {"username": flask.session.get("username"), "role": flask.session.get("role")}


def _logged_in() -> bool:
    return bool(flask.session.get("token")) and flask.session.get("expires", 0) > time.time()


def csrf_token() -> str:
    """The CSRF token for the login form (empty outside a request, e.g. in a layout test)."""
    return generate_csrf() if flask.has_request_context() else ""


class _SessionCookies(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the page was served over HTTPS (directly, or
    behind a trusted proxy that says so: ``AQKOL_BEHIND_PROXY``)."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        secure = flask.has_request_context() and flask.request.is_secure
        return secure or super().get_cookie_secure(app)


CALLBACK_PATH = "/_dash-update-component"


def _login_page_callback() -> bool:
    """Whether a callback is the pages router drawing the login page (all a stranger may ask)."""
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict) or not str(body.get("output", "")).startswith(".._pages_content"):
        return False
    inputs = body.get("inputs")
    return isinstance(inputs, list) and any(
        isinstance(i, dict)
        and i.get("id") == "_pages_location"
        and i.get("property") == "pathname"
        and i.get("value") == LOGIN_PATH
        for i in inputs
    )


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //host, no scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def install(server: flask.Flask, settings: DashboardSettings, api: ApiClient) -> None:
    """Add login and logout to the dashboard's Flask server and keep pages behind them."""
    server.secret_key = settings.derived_secret("dashboard-session")
    quietlog.install()  # no query strings or browser addresses in the access log
    server.config.update(
        # a callback's body is a few inputs: the API's bound is ample (then 413)
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,  # checked on the login form; Dash posts JSON callbacks
    )
    if settings.behind_proxy:  # one proxy in front, which sets the headers (and is trusted)
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    server.session_interface = _SessionCookies()
    csrf = CSRFProtect(server)
    client_key = settings.derived_secret("client-address")
    if api.token is None:
        api.token = session_token

    @server.errorhandler(CSRFError)
    def _csrf_refused(_err: CSRFError) -> Any:
        target = _safe_next(flask.request.form.get("next"))
        return flask.redirect(f"{LOGIN_PATH}?{urlencode({'error': 'expired', 'next': target})}")

    @server.before_request
    def _require_login() -> Any:
        path = flask.request.path
        if path == CALLBACK_PATH and not _logged_in() and not _login_page_callback():
            # a callback may read files or reach the API: none answers a stranger
            return flask.jsonify(error="not logged in: log in at /login"), 401
        if path == LOGIN_PATH or path.startswith(OPEN_PREFIXES) or flask.request.method != "GET":
            return None
        if _logged_in():
            return None
        query = urlencode({"next": flask.request.full_path.rstrip("?")})
        return flask.redirect(f"{LOGIN_PATH}?{query}")

    @server.post("/auth/login")
    def _login() -> Any:
        csrf.protect()  # raises CSRFError without the form's token
        form = flask.request.form
        target = _safe_next(form.get("next"))
        username = form.get("username", "").strip()
        address = flask.request.remote_addr or ""
        # the API limits failed logins per account and real client: it is told who that is
        vouch = client_signature(client_key, address, int(time.time()))
        got = api.login(username, form.get("password", ""), client=vouch)
        if not got.ok:
            error = got.error or ""
            why = "unreachable" if is_unreachable(error) else "credentials"
            if "too many failed logins" in error:
                why = "throttled"
            return flask.redirect(f"{LOGIN_PATH}?{urlencode({'error': why, 'next': target})}")
        flask.session.clear()
        flask.session.update(
            token=got.data["access_token"],
            username=got.data["username"],
            role=got.data["role"],
            expires=time.time() + int(got.data.get("expires_in") or 0),
        )
        return flask.redirect(target)

    @server.get("/auth/logout")
    def _logout() -> Any:
        if session_token():
            api.logout()  # the API ends the token too, wherever a copy of it went
        flask.session.clear()
        return flask.redirect(LOGIN_PATH)
