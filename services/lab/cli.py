"""``aqkol lab``: run privacy experiments, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

lab_app = typer.Typer(help="The privacy lab: attacks and utility of policies, swept.")
console = Console(stderr=True)


@lab_app.command("run")
def run_cmd(
    experiment: Annotated[str, typer.Argument(help="experiment file, or its id in experiments/")],
    out: Annotated[Path | None, typer.Option(help="results folder (default runs/lab/<id>)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="worker processes of the local Dask cluster (default: every core, one day "
            "of memory each)",
            min=1,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="AQKOL_DASK_SCHEDULER",
            help="a Dask scheduler (tcp://host:8786) whose workers run the cells "
            "(default: a local cluster)",
        ),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            envvar="AQKOL_LAB_CACHE",
            help="the simulated days' cache (default runs/lab-cache); with --scheduler, a "
            "path every worker shares or an fsspec URL (s3://bucket/lab-cache)",
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="compute every cell again, even those with results")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress bar nor dashboard link")
    ] = False,
) -> None:
    """Run (or resume) an experiment: tidy CSV, summary over seeds and plots in the results
    folder. Results are content-addressed: editing a policy, scenario or experiment file or
    the lab's code computes the cells it changes again. The cells are Dask tasks: on a
    local cluster, or on the workers of --scheduler (see docs/scaling.md)."""
    from services.lab.experiment import ExperimentError, load_experiment
    from services.lab.plots import frontier_table
    from services.lab.runner import DEFAULT_OUT, SchedulerError, run

    try:
        exp = load_experiment(experiment)
    except ExperimentError as exc:
        console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    folder = out or DEFAULT_OUT / exp.id
    cells = len(exp.cells())
    done = sum(1 for _ in (folder / "cells").glob("*.json")) if (folder / "cells").exists() else 0
    console.print(f"{exp.id}: {cells} cells ({min(done, cells)} already in {folder})")
    try:
        df = run(
            exp,
            out=folder,
            workers=workers,
            cache=cache,
            progress=not quiet,
            fresh=fresh,
            scheduler=scheduler,
        )
    except SchedulerError as exc:
        console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    f = exp.frontier
    t = frontier_table(df, f.privacy, f.points, f.utility)
    table = Table(title=f"{exp.title}: {f.privacy} vs {f.utility}")
    for col in ("policy / parameters", f.privacy, f.utility):
        table.add_column(col, justify="left" if col.startswith("policy") else "right")
    for r in t.itertuples():
        table.add_row(r.label, _fmt(r.privacy), _fmt(r.utility))
    console.print(table)
    outputs = ("results.csv", "summary.csv", "frontier.png", "frontier.html")
    for name in (*outputs, "unicity.png", "unicity.html"):
        if (folder / name).exists():
            console.print(f"  {folder / name}")


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"  # NaN: the metric does not apply


@lab_app.command("list")
def list_cmd() -> None:
    """The experiments in experiments/ and whether they have results."""
    from services.lab.experiment import EXPERIMENTS_DIR, ExperimentError, load_experiment
    from services.lab.runner import DEFAULT_OUT

    table = Table(title=str(EXPERIMENTS_DIR))
    for col in ("id", "title", "cells", "results"):
        table.add_column(col)
    for f in sorted(EXPERIMENTS_DIR.glob("*.yaml")):
        try:
            exp = load_experiment(f)
        except ExperimentError as exc:
            table.add_row(f.stem, f"[red]{exc.reason}[/]", "-", "-")
            continue
        res = DEFAULT_OUT / exp.id / "results.csv"
        table.add_row(exp.id, exp.title, str(len(exp.cells())), str(res) if res.exists() else "-")
    console.print(table)


@lab_app.command("export")
def export_cmd(
    policy: Annotated[str, typer.Option(help="the policy whose kept events are written")],
    seed: Annotated[int, typer.Option(help="the simulated day's seed")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    out: Annotated[
        Path | None, typer.Option(help="folder (default runs/export/<policy>-<seed>)")
    ] = None,
    scenario: Annotated[str, typer.Option(help="the scenario of the day")] = "normal-winter-day",
    hours: Annotated[
        float | None, typer.Option(help="hours simulated (default the scenario's)", min=0.1)
    ] = None,
    scale: Annotated[float, typer.Option(help="population scale (0-1]", min=0.01, max=1.0)] = 1.0,
) -> None:
    """Write the events a policy keeps of a simulated day, one file per kind, for outside
    tools (ARX, sdcMicro, pycanon); report k-anonymity and l-diversity of what is kept."""
    from services.lab.data import REPO
    from services.lab.export import export
    from services.policy.spec import PolicyError

    if fmt not in ("parquet", "csv"):
        console.print(f"[red]✗[/] --format {fmt!r}: parquet or csv")
        raise typer.Exit(2)
    folder = out or REPO / "runs" / "export" / f"{policy}-{seed}"
    try:
        report = export(policy, seed, folder, fmt, scenario, hours, scale)  # type: ignore[arg-type]
    except PolicyError as exc:
        console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=f"kept by {policy}, seed {seed}: {folder}")
    for col in ("kind", "rows", "k", "l", "quasi-identifiers", "identifiers kept"):
        table.add_column(col, justify="right" if col in ("rows", "k", "l") else "left")
    for r in report:
        k = "-" if r["k"] is None else f"{r['k']}{' (sample)' if r['sampled'] else ''}"
        table.add_row(
            r["kind"],
            f"{r['rows']:,}",
            k,
            "-" if r["l"] is None else str(r["l"]),
            ", ".join(r["qi"]),
            ", ".join(r["identifiers"]) or "-",
        )
    console.print(table)
