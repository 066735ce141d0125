"""The quick experiment behind a Lab page that is never empty.

``aqkol up`` starts it in the background when the Lab has no result yet, and a teacher can
start it from the page. It is the lab's own command (``aqkol lab run quick-look``) in a
child process at low priority; a marker file next to the results says it runs (its process
id and start), and the page counts the cells the lab has finished to show progress.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

QUICK = "quick-look"  # experiments/quick-look.yaml
STALE_S = 30 * 60  # a marker older than this is a run that died without cleaning up


def _marker(results: Path) -> Path:
    return results / f".{QUICK}.running"


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


def status(results: Path) -> dict[str, Any]:
    """``{"running", "done", "cells", "result"}``: whether the quick experiment runs, how many
    of its cells are finished, and its results folder once it has a ``results.csv``."""
    folder = results / QUICK
    out: dict[str, Any] = {"running": False, "done": 0, "cells": _cells(), "result": None}
    if (folder / "results.csv").exists():
        out["result"] = str(folder)
    if (folder / "cells").exists():
        out["done"] = min(sum(1 for _ in (folder / "cells").glob("*.json")), out["cells"] or 10**9)
    marker = _marker(results)
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


@functools.lru_cache(maxsize=1)
def _cells() -> int:
    from services.lab.experiment import ExperimentError, load_experiment

    try:
        return len(load_experiment(QUICK).cells())
    except ExperimentError:
        return 0


def start(results: Path, env: dict[str, str] | None = None) -> subprocess.Popen | None:
    """Start the quick experiment unless it runs already; the process, or None."""
    if status(results)["running"]:
        return None
    results.mkdir(parents=True, exist_ok=True)
    log = open(results / f"{QUICK}.log", "wb")  # noqa: SIM115 (the child keeps it)
    kwargs: dict[str, Any] = {}
    if os.name == "posix":
        kwargs["preexec_fn"] = lambda: os.nice(10)  # the town and the class come first
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "lab", "run", QUICK,
         "--out", str(results / QUICK), "--workers", "1"],
        env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, **kwargs,
    )  # fmt: skip
    log.close()
    _marker(results).write_text(json.dumps({"pid": proc.pid, "started": time.time()}))
    return proc
