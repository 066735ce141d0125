"""Login: the OAuth2 password flow gives a signed bearer token; who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from services.api.deps import CurrentUser, EngineDep, SettingsDep
from services.auth import tokens
from services.auth.users import authenticate

router = APIRouter(prefix="/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: str


class Me(BaseModel):
    username: str
    role: str
    demo: bool


@router.post("/token", response_model=Token)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Log in with user name and password (form fields); get a bearer token."""
    with engine.begin() as conn:
        user = authenticate(conn, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(
        access_token=tokens.issue(settings, user.username, user.role),
        expires_in=settings.token_minutes * 60,
        username=user.username,
        role=user.role,
    )


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    """Retrieve the logged-in account."""
    return Me(username=user.username, role=user.role, demo=user.demo)
