"""Dependencies shared by the routers: the database, the settings, and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine

from services.auth import roles, tokens
from services.auth.users import User, get_user
from services.config import Settings
from services.transparency import audit

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


def get_conn(request: Request) -> Iterator[Connection]:
    """A read connection from the app's engine."""
    with request.app.state.engine.connect() as conn:
        yield conn


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    """The app's engine, for routes that write."""
    return request.app.state.engine


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
    settings: Settings = request.app.state.settings
    try:
        username, version = tokens.read_claims(settings, token)
    except tokens.TokenError as exc:
        raise _unauthorized(str(exc)) from None
    with request.app.state.engine.connect() as conn:
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
CurrentUser = Annotated[User, Depends(require_user)]
