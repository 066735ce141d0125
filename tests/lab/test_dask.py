"""Lab sweeps on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
loopback give the table of the in-process run; a worker killed mid-sweep loses only its
cell, which another worker computes: every cell present afterwards, each once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.lab.experiment import load_experiment
from services.lab.runner import cell_id, run
from tests.support import free_port, stop, wait_port, wait_until

SMALL = """\
id: small
title: A twentieth of the town for two hours, two seeds
policies: [none, gdpr-minimal, dp-heatmaps]
seeds: [3, 4]
hours: 2
population_scale: 0.05
points: [1, 2, 4]
metrics: [unicity, heatmap]
grid:
  h3_res: [null, 8]
"""
DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("exp") / "small.yaml"
    p.write_text(SMALL)
    return p


@pytest.fixture(scope="module")
def local_table(small: Path, tmp_path_factory, cache: Path) -> pd.DataFrame:
    """The run in a LocalCluster on this machine (the default), as results.csv has it."""
    out = tmp_path_factory.mktemp("local")
    run(small, out=out, cache=cache, workers=2, plots=False)
    return pd.read_csv(out / "results.csv")


class Cluster:
    """A scheduler and workers, each its own process, on 127.0.0.1."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._start(
            "scheduler",
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
        )  # fmt: skip
        wait_port(self.port, self.procs["scheduler"], timeout=120)

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps it)
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def add_worker(self, name: str) -> None:
        # no nanny: the process started here is the worker, so killing it kills the worker
        self._start(
            name,
            [DASK, "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny",
             "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
        )  # fmt: skip

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="120s")

    def close(self) -> None:
        for p in reversed(list(self.procs.values())):
            stop(p)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        c.add_worker("w0")
        c.add_worker("w1")
        with c.client() as client:

            def two_workers() -> bool:
                for name, p in c.procs.items():
                    if p.poll() is not None:
                        log = (tmp_path / f"{name}.log").read_text()
                        raise AssertionError(f"{name} exited: {log[-2000:]}")
                return len(client.scheduler_info()["workers"]) == 2

            wait_until(two_workers, 180, "two workers joined", interval=0.2)
        yield c
    finally:
        c.close()


def test_a_scheduler_and_two_workers_give_the_local_table(
    small: Path, local_table: pd.DataFrame, cluster: Cluster, cache: Path, tmp_path: Path
):
    out = tmp_path / "remote"
    env = {"AQKOL_DASK_SCHEDULER": cluster.address, "AQKOL_LAB_CACHE": str(cache)}
    res = CliRunner().invoke(app, ["lab", "run", str(small), "--out", str(out), "-q"], env=env)
    assert res.exit_code == 0, res.output
    with cluster.client() as client:  # both workers computed cells: each holds a day
        held = client.run(lambda: len(__import__("services.lab.runner").lab.runner._DAYS))
        assert sorted(held.values()) == [1, 1]
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), local_table)


def test_a_worker_killed_mid_sweep_loses_only_its_cell(
    small: Path, local_table: pd.DataFrame, cluster: Cluster, cache: Path, tmp_path: Path
):
    out = tmp_path / "killed"
    cells = out / "cells"
    outcome: dict[str, object] = {}

    def sweep() -> None:
        try:
            outcome["df"] = run(small, out=out, cache=cache, scheduler=cluster.address, plots=False)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    t = threading.Thread(target=sweep, daemon=True)
    t.start()
    with cluster.client() as client:
        workers = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}

        def busy_worker() -> str | None:
            """A worker computing a cell once a first cell's file is written."""
            if "error" in outcome or not (cells.exists() and any(cells.glob("*.json"))):
                return None
            processing = client.processing()
            for name, addr in workers.items():
                if any(str(k).startswith("cell-") for k in processing.get(addr, ())):
                    return name
            return None

        victim = wait_until(busy_worker, 300, "a cell file and a worker on a cell", 0.05)
        os.kill(cluster.procs[victim].pid, signal.SIGKILL)
        cluster.procs[victim].wait(30)
        wait_until(lambda: not t.is_alive(), 600, "the sweep to finish", 0.2)
        # the victim is gone for good: the survivor computed its cell again
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 1, 120, "one worker")
    assert "error" not in outcome, outcome.get("error")
    exp = load_experiment(small)
    ids = {cell_id(c, exp) for c in exp.cells()}
    assert sorted(p.name for p in cells.iterdir()) == sorted(f"{i}.json" for i in ids)
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), local_table)
