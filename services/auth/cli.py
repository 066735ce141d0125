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


@users_app.command("add-class")
def add_class_command(
    students: Annotated[int, typer.Option(help="how many student accounts", min=1, max=500)] = 30,
    prefix: Annotated[str, typer.Option(help="user names: PREFIX01, PREFIX02, ...")] = "student",
    out: Annotated[
        Path | None, typer.Option(help="the sheet of login cards [default: var/class-cards.html]")
    ] = None,
    class_url: Annotated[
        str | None,
        typer.Option(help="the address on the cards [default: this machine's, dashboard port]"),
    ] = None,
    replace: Annotated[bool, typer.Option(help="renew the passwords of existing ones")] = False,
) -> None:
    """Make numbered student accounts and a printable sheet of login cards (HTML)."""
    from services.auth.users import AccountError
    from services.classroom.cards import CARDS_FILE, add_class, cards_html, write_private
    from services.classroom.lan import LanError, lan_address
    from services.classroom.lan import class_url as make_url

    settings = Settings()
    if class_url is None:
        try:
            class_url = settings.class_url or make_url(lan_address(), settings.dashboard_port)
        except LanError:
            class_url = f"http://127.0.0.1:{settings.dashboard_port}/"
    engine = _engine(settings)
    try:
        accounts = add_class(engine, students, prefix, replace=replace)
    except AccountError as exc:
        console.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    sheet = write_private(out or settings.var_dir / CARDS_FILE, cards_html(accounts, class_url))
    console.print(
        f"{len(accounts)} student accounts ({accounts[0][0]} … {accounts[-1][0]}) saved; "
        f"login cards for {class_url} in {sheet} (owner-only: it holds the passwords). "
        "Print it and cut along the lines.",
        highlight=False,
        soft_wrap=True,
    )
