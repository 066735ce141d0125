"""Dependencies shared by the routers: the database, the settings, the app's long-lived
helpers (rule and policy books, the DP releaser, the limiters, the lines to the broker), the
policy in force, and who is asking.

Each helper lives on ``app.state``, created by ``create_app`` or on first use; the routes
receive it through the ``...Dep`` aliases below and never read ``app.state`` themselves
(``tests/services/test_api_deps.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine

from services.api.bounds import PreviewGate
from services.auth import roles, tokens
from services.auth.ratelimit import LoginLimiter
from services.auth.users import User, get_user
from services.classroom.link import SimulatorLink
from services.classroom.wire import WireTap
from services.config import Settings
from services.policy.active import POLICIES_DIR, PolicyBook, active_policy
from services.policy.release import Releaser
from services.policy.spec import REFUSED_RELEASE, PolicyError, PolicySpec
from services.rules.book import RULES_DIR, RuleBook
from services.transparency import audit

log = logging.getLogger(__name__)

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


def get_conn(request: Request) -> Iterator[Connection]:
    """A read connection from the app's engine."""
    with request.app.state.engine.connect() as conn:
        yield conn


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's engine, for routes that write."""
    engine: Engine = request.app.state.engine
    return engine


def get_login_limiter(request: Request) -> LoginLimiter:
    """The failed-login counter (made by ``create_app``)."""
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


def get_preview_gate(request: Request) -> PreviewGate:
    """The bound on rule previews running at once (made by ``create_app``)."""
    gate: PreviewGate = request.app.state.preview_gate
    return gate


def get_rulebook(request: Request) -> RuleBook:
    """The rule files, read again where they changed (the book is made on first use)."""
    book: RuleBook | None = getattr(request.app.state, "rulebook", None)
    if book is None:
        settings = get_settings(request)
        book = request.app.state.rulebook = RuleBook(settings.rules_dir or RULES_DIR)
    book.refresh()
    return book


def get_policybook(request: Request) -> PolicyBook:
    """The policy files, read again where they changed (the book is made on first use)."""
    book: PolicyBook | None = getattr(request.app.state, "policybook", None)
    if book is None:
        settings = get_settings(request)
        book = request.app.state.policybook = PolicyBook(settings.policies_dir or POLICIES_DIR)
    book.refresh()
    return book


def get_releaser(request: Request) -> Releaser:
    """The DP releaser with its cache of released buckets (made on first use)."""
    r: Releaser | None = getattr(request.app.state, "releaser", None)
    if r is None:
        r = request.app.state.releaser = Releaser()
    return r


def get_classroom_link(request: Request) -> SimulatorLink:
    """The app's line to the simulator (one MQTT connection, opened on first use)."""
    lk: SimulatorLink | None = getattr(request.app.state, "classroom_link", None)
    if lk is None:
        lk = request.app.state.classroom_link = SimulatorLink(get_settings(request))
    return lk


def get_wire_tap(request: Request) -> WireTap:
    """The wire view's subscription to the raw broker (started on first sample)."""
    t: WireTap | None = getattr(request.app.state, "wire_tap", None)
    if t is None:
        t = request.app.state.wire_tap = WireTap(get_settings(request))
    return t


def active_id(request: Request, conn: Connection) -> str:
    """The id of the policy in force: a lane's pinned one, else the newest switch."""
    settings = get_settings(request)
    if settings.policy_pinned:
        return settings.policy
    policy_id: str = active_policy(conn, settings.policy)[0]
    return policy_id


def active_spec(request: Request, conn: Connection) -> PolicySpec:
    """The policy in force (as the ingest sees it). When its file is refused, the releases
    fail closed (:data:`REFUSED_RELEASE`), never open: the ingest holds the stream meanwhile."""
    policy_id = active_id(request, conn)
    try:
        return get_policybook(request).spec(policy_id)
    except PolicyError as exc:
        log.error("the active policy %r is refused (%s): releases fail closed", policy_id, exc)
        return REFUSED_RELEASE


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authorize(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User | None:
    """Apply the role matrix to the route being called; audit queries of personal data.

    Attached to the whole app, so that no route can be reached around it.
    """
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    method = request.method
    who = roles.allowed(method, path)
    if who is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{method} {path} has no entry in the role matrix (services/auth/roles.py), "
            "so it is refused to everyone",
        )
    if who == roles.PUBLIC:
        return None
    if not token:
        raise _unauthorized(
            "not logged in: send 'Authorization: Bearer <token>' from POST /auth/token"
        )
    settings = get_settings(request)
    try:
        username, version = tokens.read_claims(settings, token)
    except tokens.TokenError as exc:
        raise _unauthorized(str(exc)) from None
    with get_engine(request).connect() as conn:
        user = get_user(conn, username)
    if user is None:
        raise _unauthorized(f"the account {username!r} no longer exists")
    if user.token_version != version:
        raise _unauthorized("this login has ended (logout, password change or reset): log in again")
    if user.role not in who:
        may = ", ".join(sorted(who))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {user.role.value!r} may not {method} {path} (allowed: {may})",
        )
    request.state.user = user
    params = dict(request.query_params)
    if audit.personal_query(method, path, params):
        sessions = getattr(request.app.state, "view_sessions", None)
        if sessions is None:
            sessions = request.app.state.view_sessions = audit.ViewSessions()
        sessions.read(request.app.state.engine, user.username, user.role, f"{method} {path}",
                      params)  # fmt: skip
    return user


def require_user(user: Annotated[User | None, Depends(authorize)]) -> User:
    """The logged-in user (for routes that need to know who acts)."""
    if user is None:
        raise _unauthorized("not logged in")
    return user


ConnDep = Annotated[Connection, Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
LoginLimiterDep = Annotated[LoginLimiter, Depends(get_login_limiter)]
PreviewGateDep = Annotated[PreviewGate, Depends(get_preview_gate)]
RuleBookDep = Annotated[RuleBook, Depends(get_rulebook)]
PolicyBookDep = Annotated[PolicyBook, Depends(get_policybook)]
ReleaserDep = Annotated[Releaser, Depends(get_releaser)]
LinkDep = Annotated[SimulatorLink, Depends(get_classroom_link)]
WireTapDep = Annotated[WireTap, Depends(get_wire_tap)]
CurrentUser = Annotated[User, Depends(require_user)]
