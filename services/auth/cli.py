"""``aqkol users``: local accounts of the command center; the demo accounts of ``aqkol up``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.auth.roles import Role
from services.config import Settings

users_app = typer.Typer(help="Accounts: add, list, remove.", no_args_is_help=True)
console = Console(stderr=True)


def _engine(settings: Settings):
    from services.store.db import make_engine, migrate

    migrate(settings.effective_database_url)
    return make_engine(settings.effective_database_url)


FROM_ENVIRONMENT = "AQKOL_NEW_PASSWORD"  # the variable a new password may come in


def _password_given(password_stdin: bool, password_file: Path | None, prompt: bool) -> str | None:
    """The password from stdin, a file, the environment or a prompt; None: generate one.

    Never from the command line: ``ps`` shows every user the arguments of every process,
    and shells keep them in their history.
    """
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password_file is not None:
        return password_file.read_text(encoding="utf-8").splitlines()[0]
    if os.environ.get(FROM_ENVIRONMENT):
        return os.environ[FROM_ENVIRONMENT]
    if prompt:
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return None


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="user name (lower case)")],
    role: Annotated[Role, typer.Option(help="what the account may do")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="read the password from the first line of stdin"),
    ] = False,
    password_file: Annotated[
        Path | None, typer.Option(help="read the password from the first line of this file")
    ] = None,
    prompt: Annotated[bool, typer.Option("--prompt", help="ask for the password (hidden)")] = False,
    password: Annotated[str | None, typer.Option(hidden=True)] = None,
    replace: Annotated[bool, typer.Option(help="reset role and password if it exists")] = False,
) -> None:
    """Create an account with a role (teacher, analyst, auditor or student).

    The password: --password-stdin, --password-file, AQKOL_NEW_PASSWORD or --prompt; without
    any, a random one is printed once. Never on the command line, where others can read it.
    """
    from services.auth.users import AccountError, add_user, new_password

    if password is not None:
        console.print(
            "[red]refused:[/] a password on the command line is visible to every user of the "
            f"machine (ps) and kept in shell history; use --password-stdin, --password-file, "
            f"{FROM_ENVIRONMENT} or --prompt",
            highlight=False,
        )
        raise typer.Exit(2)
    given = _password_given(password_stdin, password_file, prompt)
    generated = given is None
    password = given if given is not None else new_password()
    engine = _engine(Settings())
    try:
        with engine.begin() as conn:
            add_user(conn, name, role.value, password, replace=replace)
    except AccountError as exc:
        console.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    console.print(f"account {name!r} ({role.value}) saved")
    if generated:
        typer.echo(f"password: {password}")


@users_app.command("list")
def list_() -> None:
    """List the accounts with their roles."""
    from services.auth.users import list_users

    engine = _engine(Settings())
    with engine.connect() as conn:
        rows = list_users(conn)
    engine.dispose()
    table = Table(title=f"{len(rows)} accounts")
    for col in ("name", "role", "created", "demo"):
        table.add_column(col)
    for user, created in rows:
        table.add_row(
            user.username, user.role.value, f"{created:%Y-%m-%d %H:%M}", "yes" if user.demo else ""
        )
    Console(width=120).print(table)


@users_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Delete an account."""
    from services.auth.users import remove_user

    engine = _engine(Settings())
    with engine.begin() as conn:
        found = remove_user(conn, name)
    engine.dispose()
    if not found:
        console.print(f"[red]no account {name!r}[/]")
        raise typer.Exit(1)
    console.print(f"account {name!r} removed")


def demo_accounts(settings: Settings) -> str:
    """Give each demo account (one per role) a fresh password; the lines that tell them."""
    from services.auth.users import DEMO_FILE, make_demo_accounts
    from services.store.db import make_engine

    engine = make_engine(settings.effective_database_url)
    try:
        accounts = make_demo_accounts(engine, settings.var_dir)
    finally:
        engine.dispose()
    lines = [f"  {name:<8} {password}" for name, (_role, password) in accounts.items()]
    return (
        "[b]Log in as[/] (user, password; new ones every start, also in "
        f"{settings.var_dir / DEMO_FILE})\n" + "\n".join(lines)
    )
