"""The lab's results as the API serves them, and the quick experiment it starts.

The lab (``aqkol lab run``) writes each experiment's results to a folder of the results
directory (``runs/lab/<experiment>/``, or ``AQKOL_LAB_RESULTS``), in the files the contract
names (services/events/labfiles.py): the Lab page's figures as Plotly JSON and their
tables. This module reads those files, each named by a plain run id and a known figure
name (never a path from a client), and starts the quick experiment as the root command in
a child process at low priority: a process boundary, the center never imports the lab. A
marker beside the results says it runs (its process id and start).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from services.config import Settings
from services.events.labfiles import (
    CELLS_DIR,
    EXPERIMENT_FILE,
    FIGURE_SUFFIX,
    FIGURES,
    PLAN_FILE,
    RESULTS_FILE,
    TABLE_SUFFIX,
)
from services.paths import child

REPO = Path(__file__).resolve().parents[2]
QUICK = "quick-look"  # experiments/quick-look.yaml: the one experiment the page may start
STALE_S = 30 * 60  # a marker older than this is a run that died without cleaning up
# the lab's own command; tests swap it for a stand-in
LAB_COMMAND = [sys.executable, "-m", "services.cli", "lab", "run"]


def results_dir(settings: Settings) -> Path:
    """Where the lab writes its results."""
    return settings.lab_results or REPO / "runs" / "lab"


def _meta(folder: Path) -> dict[str, Any]:
    try:
        meta = orjson.loads((folder / EXPERIMENT_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Every finished result (a folder with ``results.csv``), newest first: id, title, when."""
    out = []
    for csv in root.glob(f"*/{RESULTS_FILE}"):
        folder = child(root, csv.parent.name)
        if folder is None:
            continue
        meta = _meta(folder)
        out.append(
            {
                "id": folder.name,
                "title": str(meta.get("title") or folder.name),
                "mtime": csv.stat().st_mtime,
            }
        )
    return sorted(out, key=lambda r: -r["mtime"])


def run_folder(root: Path, run_id: str) -> Path | None:
    """The folder of a finished result, if ``run_id`` names one under ``root``."""
    folder = child(root, run_id)
    return folder if folder is not None and (folder / RESULTS_FILE).is_file() else None


def experiment(folder: Path) -> dict[str, Any]:
    """The experiment a result was run from (as the lab wrote it)."""
    return _meta(folder)


def _json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def figure(folder: Path, name: str) -> dict[str, Any] | None:
    """A Plotly figure of the page (``name`` one of :data:`FIGURES`), None if not written."""
    fig = _json(folder / f"{name}{FIGURE_SUFFIX}") if name in FIGURES else None
    return fig if isinstance(fig, dict) else None


def table(folder: Path, name: str) -> list[dict[str, Any]] | None:
    """The rows behind a figure of the page, None if not written."""
    rows = _json(folder / f"{name}{TABLE_SUFFIX}") if name in FIGURES else None
    return rows if isinstance(rows, list) else None


def _marker(root: Path) -> Path:
    return root / f".{QUICK}.running"


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check elsewhere: the marker's age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError, OSError):  # our own child, finished: reap it
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def quick_status(root: Path) -> dict[str, Any]:
    """``{"experiment", "running", "done", "cells", "finished"}``: whether the quick
    experiment runs, how many of its cells are finished, and whether it has a result."""
    folder = root / QUICK
    plan = _json(folder / PLAN_FILE)
    cells = plan.get("cells") if isinstance(plan, dict) else None
    out: dict[str, Any] = {
        "experiment": QUICK,
        "running": False,
        "done": 0,
        "cells": cells if isinstance(cells, int) else 0,
        "finished": (folder / RESULTS_FILE).exists(),
    }
    if (folder / CELLS_DIR).exists():
        done = sum(1 for _ in (folder / CELLS_DIR).glob("*.json"))
        out["done"] = min(done, out["cells"] or 10**9)
    marker = _marker(root)
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return out
    fresh = time.time() - float(info.get("started", 0)) < STALE_S
    if fresh and _alive(int(info.get("pid", 0))):
        out["running"] = True
    else:
        marker.unlink(missing_ok=True)
    return out


def start_quick(root: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes] | None:
    """Start the quick experiment unless it runs already; the process, or None."""
    if quick_status(root)["running"]:  # (a stale marker is removed here)
        return None
    root.mkdir(parents=True, exist_ok=True)
    try:  # claimed before the start: two requests at once, on two API workers, start one run
        claim = open(_marker(root), "x")  # noqa: SIM115 (closed below, or removed on failure)
    except FileExistsError:
        return None
    kwargs: dict[str, Any] = {}
    if os.name == "posix":
        kwargs["preexec_fn"] = lambda: os.nice(10)  # the town and the class come first
    try:
        with claim, open(root / f"{QUICK}.log", "wb") as log:  # the child keeps its copy
            proc = subprocess.Popen(
                [*LAB_COMMAND, QUICK, "--out", str(root / QUICK), "--workers", "1"],
                env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, **kwargs,
            )  # fmt: skip
            claim.write(json.dumps({"pid": proc.pid, "started": time.time()}))
    except BaseException:
        _marker(root).unlink(missing_ok=True)  # a start that failed holds nothing
        raise
    return proc
