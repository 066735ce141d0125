"""The lab's results for the Lab page, and the quick experiment a teacher starts from it.

A result is aggregate metrics of a simulated town (shares of residents singled out, the
error of a heatmap), files the lab wrote, not data the command center holds about anyone:
every role reads them, as every role sees the Lab page, and no read goes on the audit
record. Each result is named by its plain id (the experiment's), one level under the
results folder (services/api/labruns.py); a figure by its name. Only the teacher starts an
experiment, only the quick one (a sweep takes hours: ``aqkol lab run`` in a terminal).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status

from services.api import labruns
from services.api.deps import SettingsDep
from services.api.schemas.lab import Figure, LabJob, LabResult, LabRun, LabRuns, LabStart, LabTable
from services.config import Settings
from services.events.labfiles import FIGURES

router = APIRouter(prefix="/lab", tags=["lab"])


def _folder(settings: Settings, run_id: str) -> Path:
    folder = labruns.run_folder(labruns.results_dir(settings), run_id)
    if folder is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lab result {run_id!r}")
    return folder


@router.get("/runs")
def runs(settings: SettingsDep) -> LabRuns:
    """List the lab's finished results, newest first."""
    return LabRuns(items=[LabRun(**r) for r in labruns.list_runs(labruns.results_dir(settings))])


@router.get("/runs/{run_id}", responses={404: {"description": "No such result"}})
def result(run_id: str, settings: SettingsDep) -> LabResult:
    """Retrieve a result's experiment and its figures (Plotly JSON)."""
    folder = _folder(settings, run_id)
    figures = {name: labruns.figure(folder, name) for name in FIGURES}
    if any(f is None for f in figures.values()):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"lab result {run_id!r} has no figures for the page: run it again with "
            "`aqkol lab run` (its cells are kept, only the figures are drawn)",
        )
    meta = labruns.experiment(folder)
    return LabResult(
        id=folder.name,
        title=str(meta.get("title") or folder.name),
        experiment=meta,
        figures={k: v for k, v in figures.items() if v is not None},
    )


@router.get("/runs/{run_id}/tables/{name}", responses={404: {"description": "No such table"}})
def table(run_id: str, name: Figure, settings: SettingsDep) -> LabTable:
    """Retrieve the rows behind one of a result's figures."""
    rows = labruns.table(_folder(settings, run_id), name)
    if rows is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"lab result {run_id!r} has no {name} table")
    return LabTable(id=run_id, name=name, rows=rows)


@router.get("/jobs/{experiment}", responses={404: {"description": "No such job"}})
def job(experiment: str, settings: SettingsDep) -> LabJob:
    """Whether the quick experiment runs, and its progress."""
    if experiment != labruns.QUICK:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the API runs no experiment {experiment!r}")
    return LabJob(**labruns.quick_status(labruns.results_dir(settings)))


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
def start(body: LabStart, settings: SettingsDep) -> LabJob:
    """Start the quick experiment in the background, unless it runs already (then its
    progress, with ``started`` false)."""
    root = labruns.results_dir(settings)
    proc = labruns.start_quick(root)
    return LabJob(**labruns.quick_status(root), started=proc is not None)
