"""``aqkol policy``: check policy files, see what each does, switch the active one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

policy_app = typer.Typer(help="Data-minimization policies: check, show, switch.")
console = Console(stderr=True)


def _book():
    from services.config import Settings
    from services.policy.active import POLICIES_DIR, PolicyBook

    return PolicyBook(Settings().policies_dir or POLICIES_DIR)


@policy_app.command("check")
def check(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="policy files or folders (default: policies/)")
    ] = None,
) -> None:
    """Validate policy files; print each error with its file and line. Exit 1 if any fails."""
    from services.filebook import load_file
    from services.policy.spec import PolicyError, parse_policy

    files: list[Path] = []
    for p in paths or [_book().folder]:
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    failed = 0
    for f in files:
        try:
            spec = load_file(f, parse_policy, PolicyError)
        except PolicyError as exc:
            failed += 1
            console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
            continue
        console.print(f"[green]✓[/] {f}: {spec.id} ({spec.title})", soft_wrap=True)
    console.print(f"{len(files) - failed} ok, {failed} refused")
    if failed or not files:
        raise typer.Exit(1)


@policy_app.command("show")
def show(policy: Annotated[str, typer.Argument(help="policy id")]) -> None:
    """What a policy does to each event kind, how long it keeps data, what it releases."""
    from services.policy.apply import Minimizer, describe_plan
    from services.policy.spec import PolicyError

    try:
        spec = _book().spec(policy)
    except PolicyError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    table = Table(title=f"{spec.id}: {spec.title}")
    table.add_column("event kind")
    table.add_column("what is kept")
    for kind, what in describe_plan(Minimizer(spec)):
        table.add_row(kind, what)
    out = Console()
    out.print(table)
    out.print(f"pseudonym salt: {spec.pseudonym_salt}; biometric: {spec.biometric.mode} "
              f"({', '.join(spec.biometric.watchlists)}); retention: "
              f"{spec.retention.model_dump()}; release: {spec.release.model_dump()}")  # fmt: skip


@policy_app.command("use")
def use(
    policy: Annotated[str, typer.Argument(help="policy id")],
    by: Annotated[str, typer.Option(help="who switches (kept in the history)")] = "teacher",
    note: Annotated[str | None, typer.Option(help="why")] = None,
) -> None:
    """Make a policy active in the database; running ingest workers follow within a batch."""
    from services.config import Settings
    from services.policy.active import activate
    from services.policy.spec import PolicyError
    from services.store.db import make_engine, migrate

    settings = Settings()
    migrate(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.begin() as conn:
            row = activate(conn, _book(), policy, by, note)
    except PolicyError as exc:
        console.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"policy {row['policy']} active (history #{row['id']})")


@policy_app.command("history")
def show_history() -> None:
    """Which policy was active when."""
    from services.config import Settings
    from services.policy.active import history
    from services.store.db import make_engine

    engine = make_engine(Settings().effective_database_url)
    with engine.connect() as conn:
        rows = history(conn)
    engine.dispose()
    table = Table(title="policy history (newest first)")
    for col in ("#", "policy", "activated at", "sim time", "by", "note"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["policy"], str(r["activated_at"]), str(r["sim_time"]),
                      r["activated_by"], r["note"] or "")  # fmt: skip
    Console().print(table)
