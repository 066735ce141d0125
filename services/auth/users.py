"""Local accounts with argon2-hashed passwords (pwdlib), and the demo accounts of ``aqkol up``."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from pwdlib import PasswordHash
from sqlalchemy import Connection, Engine, delete, insert, select, update

from services.auth.roles import Role
from services.events.keys import private_dir
from services.store.models import users

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 8
DEMO_FILE = "demo-accounts.json"


class AccountError(ValueError):
    """A refused account: bad name, role or password, or a name already taken."""


@dataclass(frozen=True)
class User:
    """An account as the API sees it (never the hash)."""

    username: str
    role: Role
    demo: bool = False
    token_version: int = 0  # the version its valid login tokens carry


@lru_cache
def hasher() -> PasswordHash:
    """pwdlib's recommended hasher (argon2id)."""
    return PasswordHash.recommended()


@lru_cache
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def new_token_version(old: int | None = None) -> int:
    """A fresh version for an account's tokens: random, so that an account removed and made
    again under the same name does not take back the old one's tokens."""
    while (v := secrets.randbits(52)) == old:
        pass
    return v


def new_password() -> str:
    """A random password that reads out loud well enough for a classroom."""
    return secrets.token_urlsafe(12)


def check_new(username: str, role: str, password: str) -> Role:
    """Refuse a bad user name, role or password; the role as a :class:`Role`."""
    if not USERNAME.match(username):
        raise AccountError(
            f"user name {username!r}: 2-64 characters, lower-case letters, digits, '.', '_', '-'"
        )
    try:
        r = Role(role)
    except ValueError:
        raise AccountError(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    return r


def add_user(
    conn: Connection,
    username: str,
    role: str,
    password: str,
    *,
    replace: bool = False,
    demo: bool = False,
) -> User:
    """Create an account (or with ``replace``, set its role and password)."""
    r = check_new(username, role, password)
    row = {
        "password_hash": hasher().hash(password),
        "role": r.value,
        "demo": demo,
        "token_version": new_token_version(),  # a reset ends the sessions it had
    }
    exists = conn.execute(select(users.c.id).where(users.c.username == username)).first()
    if exists and not replace:
        raise AccountError(f"user {username!r} exists")
    if exists:
        conn.execute(update(users).where(users.c.username == username).values(**row))
    else:
        conn.execute(insert(users).values(username=username, created_at=datetime.now(UTC), **row))
    return User(username, r, demo)


def remove_user(conn: Connection, username: str) -> bool:
    """Delete an account; False if there was none."""
    return conn.execute(delete(users).where(users.c.username == username)).rowcount > 0


def get_user(conn: Connection, username: str) -> User | None:
    """The account of that name, if any."""
    row = conn.execute(
        select(users.c.username, users.c.role, users.c.demo, users.c.token_version).where(
            users.c.username == username
        )
    ).first()
    if row is None:
        return None
    return User(row.username, Role(row.role), bool(row.demo), int(row.token_version))


def end_sessions(conn: Connection, username: str) -> bool:
    """Revoke every login token of the account (logout); False if there is no such account."""
    old = conn.execute(select(users.c.token_version).where(users.c.username == username)).first()
    if old is None:
        return False
    conn.execute(
        update(users)
        .where(users.c.username == username)
        .values(token_version=new_token_version(int(old.token_version)))
    )
    return True


def change_password(conn: Connection, username: str, current: str, new: str) -> None:
    """Set a new password, given the current one; every login token of the account ends."""
    user = authenticate(conn, username, current)
    if user is None:
        raise AccountError("the current password is wrong")
    check_new(username, user.role.value, new)
    conn.execute(
        update(users)
        .where(users.c.username == username)
        .values(password_hash=hasher().hash(new), token_version=new_token_version())
    )


def list_users(conn: Connection) -> list[tuple[User, datetime]]:
    """Every account with its creation time, by name."""
    rows = conn.execute(
        select(users.c.username, users.c.role, users.c.demo, users.c.created_at).order_by(
            users.c.username
        )
    )
    return [(User(r.username, Role(r.role), bool(r.demo)), r.created_at) for r in rows]


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The user if the password is right; None otherwise (as slow either way)."""
    row = conn.execute(
        select(users.c.password_hash, users.c.role, users.c.demo, users.c.token_version).where(
            users.c.username == username
        )
    ).first()
    if row is None:
        hasher().verify(password, _dummy_hash())  # no shortcut that tells names apart
        return None
    ok, updated = hasher().verify_and_update(password, row.password_hash)
    if not ok:
        return None
    if updated:  # parameters got stronger since: store the new hash
        conn.execute(
            update(users).where(users.c.username == username).values(password_hash=updated)
        )
    return User(username, Role(row.role), bool(row.demo), int(row.token_version))


def make_demo_accounts(engine: Engine, var_dir: Path) -> dict[str, tuple[str, str]]:
    """One account per role, named after it, with a fresh random password on every call.

    Returns name -> (role, password) and writes it to ``var_dir/demo-accounts.json``
    (readable by the owner only) for scripts and tests.
    """
    accounts = {role.value: (role.value, new_password()) for role in Role}
    with engine.begin() as conn:
        for name, (role, password) in accounts.items():
            add_user(conn, name, role, password, replace=True, demo=True)
    private_dir(var_dir)
    path = var_dir / DEMO_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({n: {"role": r, "password": p} for n, (r, p) in accounts.items()}, f, indent=1)
    return accounts


def copy_accounts(source: Engine, target: Engine) -> int:
    """Make ``target``'s accounts those of ``source`` (hashes copied, never passwords): a
    comparison lane's API then lets the same people in with the same passwords."""
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(users))]
    with target.begin() as conn:
        conn.execute(users.delete())
        if rows:
            conn.execute(insert(users), rows)
    return len(rows)
