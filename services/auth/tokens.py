"""Signed login tokens (JWT, HS256) and the secret that signs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from services.config import Settings
from services.events.keys import demo_secret, derive_key

ALGORITHM = "HS256"
ISSUER = "aqkol"


class TokenError(ValueError):
    """A token that is malformed, forged or expired."""


def secret(settings: Settings) -> str:
    """``AQKOL_SECRET_KEY``, or ``var_dir/secret.key``, created at first use.

    The file is written aside and linked into place, so that the API and the dashboard
    starting together agree on one secret.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    settings.require_secret("AQKOL_SECRET_KEY", None)  # generated only for the demo
    return demo_secret(settings.var_dir)


def derived_secret(settings: Settings, purpose: str) -> str:
    """A key for one purpose (e.g. the dashboard's session cookie), derived from the secret."""
    return derive_key(secret(settings), purpose)


def lifetime_minutes(settings: Settings, role: str) -> int:
    """How long a login lasts: a lesson for a student, a working day for the others."""
    return settings.student_token_minutes if role == "student" else settings.token_minutes


def issue(
    settings: Settings, username: str, role: str, now: datetime | None = None, version: int = 0
) -> str:
    """A bearer token for the user, valid :func:`lifetime_minutes`; it carries the account's
    token version, so that logout or a password change (a new version) revokes it."""
    now = now or datetime.now(UTC)
    claims = {
        "sub": username,
        "role": role,
        "ver": version,
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(minutes=lifetime_minutes(settings, role)),
    }
    return jwt.encode(claims, secret(settings), algorithm=ALGORITHM)


def read_claims(settings: Settings, token: str) -> tuple[str, int]:
    """The user name and token version of a valid token (signature, issuer, expiry)."""
    try:
        claims = jwt.decode(
            token,
            secret(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iss", "ver"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired: log in again") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token ({exc})") from None
    if not isinstance(claims["ver"], int):
        raise TokenError("invalid token (version)")
    return str(claims["sub"]), claims["ver"]


def read(settings: Settings, token: str) -> str:
    """The user name a valid token was issued to (the version is the caller's to check)."""
    return read_claims(settings, token)[0]
