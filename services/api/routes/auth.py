"""Login: the OAuth2 password flow gives a signed bearer token; who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from services.api.deps import CurrentUser, EngineDep, LoginLimiterDep, SettingsDep
from services.api.schemas.auth import Me, NewPassword, Token
from services.auth import tokens
from services.auth.ratelimit import CLIENT_HEADER, forwarded_client
from services.auth.users import AccountError, authenticate, change_password, end_sessions

router = APIRouter(prefix="/auth", tags=["auth"])


def client_address(request: Request, settings: SettingsDep) -> str:
    """The real client: the browser's address when the dashboard vouches for it (a signed
    header), or the connection's peer."""
    key = tokens.derived_secret(settings, "client-address")
    forwarded = forwarded_client(key, request.headers.get(CLIENT_HEADER))
    return forwarded or (request.client.host if request.client else "")


@router.post(
    "/token",
    response_model=Token,
    responses={429: {"description": "too many failed logins for this account or address"}},
)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
    limiter: LoginLimiterDep,
    request: Request,
) -> Token:
    """Log in with user name and password (form fields); get a bearer token."""
    address = client_address(request, settings)
    wait = limiter.wait_s(form.username, address)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins for this account or address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    with engine.begin() as conn:
        user = authenticate(conn, form.username, form.password)
    if user is None:
        limiter.failed(form.username, address)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(
        access_token=tokens.issue(settings, user.username, user.role, version=user.token_version),
        expires_in=tokens.lifetime_minutes(settings, user.role) * 60,
        username=user.username,
        role=user.role,
    )


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """Retrieve the logged-in account."""
    return Me(username=user.username, role=user.role, demo=user.demo)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, engine: EngineDep) -> Response:
    """End every login of this account (its tokens stop working everywhere)."""
    with engine.begin() as conn:
        end_sessions(conn, user.username)
    return Response(status_code=204)


@router.post("/password", status_code=204, responses={422: {"description": "refused"}})
def password(body: NewPassword, user: CurrentUser, engine: EngineDep) -> Response:
    """Change this account's password (the current one is asked); every login of it ends."""
    try:
        with engine.begin() as conn:
            change_password(
                conn, user.username, body.current.get_secret_value(), body.new.get_secret_value()
            )
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(status_code=204)
