"""Run an experiment on a Dask cluster: every cell a task, resumable, into a tidy CSV and plots.

Each cell (policy, scenario, seed, parameters) is one Dask task; its result is written by
this process to ``<out>/cells/<cell-id>.json`` (a temporary file renamed into place: an
interrupted run leaves no half file) as soon as it arrives, and a rerun skips the cells
whose file exists, so an interrupted sweep picks up where it stopped. Each day a cell
needs and the lab cache (:mod:`services.lab.data`) does not hold yet is simulated once, as
its own task, and the cells of that day depend on it.

The cluster is a ``LocalCluster`` of worker processes on this machine (one thread each, as
many as :func:`default_workers` allows), or the scheduler named by ``scheduler`` /
``$AQKOL_DASK_SCHEDULER`` (``tcp://host:8786``: ``dask scheduler`` and ``dask worker`` on
several machines, see docs/scaling.md). A worker that dies takes only its task with it:
the scheduler gives the task to another worker. ``results.csv`` (one row per metric
value: tidy) is assembled from the cell files, and the plots are drawn from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from services.events.labfiles import PLAN_FILE
from services.lab.data import LAB_CODE, REPO, DayKey, LabDay, code_version, load_day
from services.lab.experiment import Experiment, load_experiment

log = logging.getLogger(__name__)

DEFAULT_OUT = REPO / "runs" / "lab"
POLICIES = REPO / "policies"
COLUMNS = [
    "experiment",
    "policy",
    "scenario",
    "seed",
    "h3_res",
    "time_bucket_min",
    "epsilon",
    "salt",
    "k_min",
    "retention_days",
    "metric",
    "points",
    "rule",
    "value",
]
_DAYS: dict[DayKey, LabDay] = {}  # per worker process: a day is read from the cache once


WORKER_BYTES = 1_500_000_000  # a worker holds a whole day: about 1 GB measured, with margin


def default_workers() -> int:
    """Every core, but no more workers than the memory holds days."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return cores
    return max(1, min(cores, memory // WORKER_BYTES))


def cell_id(cell: dict[str, Any], exp: Experiment, policies: Path | Any | None = None) -> str:
    """A content address of a cell: its coordinates (the swept town parameters among
    them), the content of its policy, scenario and experiment (the whole file as parsed,
    but its title and description), its day (:func:`day_key`), the rules when it replays
    them, and the lab's code version. Editing any of them gives the cell a new id: it is
    computed again.
    """
    from services.policy.active import PolicyBook

    book = policies if isinstance(policies, PolicyBook) else PolicyBook(policies or POLICIES)
    shape = {
        **cell,
        # the whole file but its prose: editing a title or description recomputes nothing
        "experiment": exp.model_dump(mode="json", exclude={"title", "description"}),
        "policy_content": book.spec(cell["policy"]).model_dump(mode="json"),
        "day": day_key(exp, cell).digest(),
        "code": code_version(LAB_CODE),
    }
    if "alerts" in exp.metrics:
        shape["rules_content"] = _rules_content()
    return hashlib.sha256(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _rules_content() -> list:
    from services.rules.book import RuleBook

    return sorted((r.id, r.spec.model_dump(mode="json")) for r in RuleBook().rules)


def day_key(exp: Experiment, cell: dict[str, Any]) -> DayKey:
    """The simulated day a cell is evaluated on: its scenario and seed, the experiment's
    start and hours, and the cell's town parameters (:meth:`Experiment.town`)."""
    return DayKey.of(
        seed=cell["seed"],
        scenario=cell["scenario"],
        start=exp.start,
        hours=exp.hours,
        **exp.town(cell),
    )


def _quiet() -> None:
    for name in ("alembic", "services.rules", "services.lab.data"):
        logging.getLogger(name).setLevel(logging.WARNING)


_DAY_LOCK = threading.Lock()  # a worker with several threads reads a day once


def _day(key: DayKey, cache: str | None) -> LabDay:
    """The day, read from the cache once per worker process: the last one is kept."""
    with _DAY_LOCK:
        day = _DAYS.get(key)
        if day is None:
            _DAYS.clear()  # one day in memory per worker
            day = _DAYS[key] = load_day(key, cache)
        return day


def _simulate(key: DayKey, cache: str | None, code: str | None = None) -> str:
    """A task: simulate ``key``'s day into the shared cache unless it is there."""
    from services.lab.data import ensure_day

    _check_code(code)
    _quiet()
    ensure_day(key, cache)
    return key.digest()


def _check_code(code: str | None) -> None:
    """Refuse to work with other code than the client's: a cell's id names its code."""
    if code is not None and code != code_version(LAB_CODE):
        raise RuntimeError(
            f"this worker runs other lab code ({code_version(LAB_CODE)}) than the client "
            f"({code}): start the workers from the same checkout"
        )


def _run_cell(
    exp_json: bytes,
    cell: dict[str, Any],
    cache: str | None,
    spec: Any,
    concurrent: bool = False,
    fresh: bool = False,
    code: str | None = None,
    _day_done: str | None = None,
) -> bytes:
    """A task: evaluate one cell, its result file's content (JSON: the cell, its rows and
    the seconds per stage). ``spec``: the policy (sent along: the workers need no policy
    folder); ``concurrent``: replay the rules in a second process (when the workers leave
    a core free); ``fresh``: replay them even when the day's cache has their scores;
    ``_day_done``: the day's task, which this one waits for."""
    from services.lab.evaluate import evaluate

    _check_code(code)
    _quiet()
    exp = Experiment.model_validate_json(exp_json)
    day = _day(day_key(exp, cell), cache)
    sightings = None
    if exp.trace_days:  # the trace attacks on a longer span of camera passes
        from services.lab.data import load_week

        sightings = load_week(cell["seed"], exp.trace_days, cache=cache, **exp.town(cell))
    timing: dict[str, float] = {}
    t, cpu = time.perf_counter(), time.process_time()
    rows = evaluate(
        sightings=sightings,
        day=day,
        spec=spec,
        params=exp.params(cell),
        metrics=tuple(exp.metrics),
        seed=cell["seed"],
        timing=timing,
        concurrent=concurrent,
        alert_cache=not fresh,
    )
    timing["total_s"] = time.perf_counter() - t
    timing["cpu_s"] = time.process_time() - cpu  # this process's; a forked replay's apart
    return orjson.dumps({"cell": cell, "rows": rows, "timing": timing})


def _write(path: Path, blob: bytes) -> None:
    """Atomically: a temporary file renamed into place, never half a cell file."""
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)


class SchedulerError(RuntimeError):
    """The named Dask scheduler cannot be reached."""


def scheduler_address(scheduler: str | Any = None) -> str | None:
    """The Dask scheduler to use: ``scheduler`` (an address, or a ``distributed.Client``),
    else ``$AQKOL_DASK_SCHEDULER``, else None (a ``LocalCluster`` on this machine)."""
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler.scheduler.address
    return scheduler or os.environ.get("AQKOL_DASK_SCHEDULER") or None


@contextlib.contextmanager
def cluster(
    workers: int | None = None, scheduler: str | Any = None, dashboard: bool = False
) -> Iterator[Any]:
    """A Dask client: ``scheduler`` itself when it is one (a notebook's, left open), of the
    scheduler at ``scheduler`` (or ``$AQKOL_DASK_SCHEDULER``), or of a ``LocalCluster`` of
    ``workers`` processes of one thread each (default: :func:`default_workers`), with its
    dashboard when ``dashboard``."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    address = scheduler_address(scheduler)
    if address:
        try:
            client = Client(address, timeout="60s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerError(f"no Dask scheduler at {address}: {exc}") from exc
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # this machine only: a scheduler runs any code it is sent
            dashboard_address="127.0.0.1:8787" if dashboard else None,
            # without the dashboard its HTTP server (health, metrics) takes any free port
            scheduler_kwargs={} if dashboard else {"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as local,
        Client(local) as client,
    ):
        yield client


def _homes(
    todo: list[tuple[str, dict[str, Any], Path]], exp: Experiment, workers: list[str]
) -> dict[DayKey, list[str]]:
    """A preferred worker for each day's cells, the days dealt out so that each worker gets
    about as many cells (the most cells first, each to the least loaded): a worker then
    reads few days. A preference only: an idle worker steals cells from a busy one (Dask's
    work stealing), and a dead worker's cells go to the others."""
    if not workers:
        return {}
    count: dict[DayKey, int] = {}
    for _, c, _ in todo:
        k = day_key(exp, c)
        count[k] = count.get(k, 0) + 1
    load = dict.fromkeys(workers, 0)
    home = {}
    for k in sorted(count, key=lambda k: -count[k]):
        w = min(load, key=lambda w: load[w])
        home[k] = [w]
        load[w] += count[k]
    return home


def _progress_bar(futures: list, client: Any) -> threading.Thread:
    """Dask's text progress bar over ``futures``, drawn by a thread until they are done."""
    from distributed.diagnostics.progressbar import TextProgressBar

    def draw() -> None:
        with contextlib.suppress(Exception):  # only a display: the results do not depend on it
            TextProgressBar(futures, scheduler=client.scheduler.address)

    bar = threading.Thread(target=draw, name="lab-progress", daemon=True)
    bar.start()
    return bar


def run(
    experiment: str | Path | Experiment,
    out: Path | str | None = None,
    workers: int | None = None,
    cache: Path | str | None = None,
    progress: bool = False,
    plots: bool = True,
    fresh: bool = False,
    policies: Path | str | None = None,
    scheduler: str | Any = None,
) -> pd.DataFrame:
    """Run (or resume) ``experiment``; returns the tidy results (also ``<out>/results.csv``
    and, over the seeds, ``<out>/summary.csv``). A cell whose result file exists (same
    content address, :func:`cell_id`) is not computed again, unless ``fresh``; ``policies``:
    the folder of policy files (default: the repo's).

    The cells run as tasks on a Dask cluster: a ``LocalCluster`` of ``workers`` processes
    (default :func:`default_workers`), or the scheduler at ``scheduler`` (an address such
    as ``tcp://host:8786``, or a ``distributed.Client``; default ``$AQKOL_DASK_SCHEDULER``;
    ``workers`` is then the cluster's). ``cache``: the lab
    cache of simulated days (default ``$AQKOL_LAB_CACHE``, else ``runs/lab-cache/``); on a
    cluster of several machines, a path every worker shares. ``progress``: Dask's progress
    bar and the dashboard's link."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    out = Path(out) if out else DEFAULT_OUT / exp.id
    (out / "cells").mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_bytes(
        orjson.dumps(exp.model_dump(), option=orjson.OPT_INDENT_2)
    )
    cache_s = str(cache) if cache else None
    cells = exp.cells()
    from services.policy.active import PolicyBook

    book = PolicyBook(Path(policies) if policies else POLICIES)
    ids = [cell_id(c, exp, book) for c in cells]
    paths = {i: out / "cells" / f"{i}.json" for i in ids}
    # how many cell files make the run: the API counts them for the Lab page's progress
    (out / PLAN_FILE).write_bytes(orjson.dumps({"cells": len(paths)}))
    todo = [
        (i, c, paths[i]) for i, c in zip(ids, cells, strict=True) if fresh or not paths[i].exists()
    ]
    todo = list({i: (i, c, p) for i, c, p in todo}.values())  # a repeated cell: once
    # a worker reuses its day: the cells of one day (scenario, seed, town) in a row
    todo.sort(key=lambda icp: (icp[1]["scenario"], icp[1]["seed"], repr(day_key(exp, icp[1]).town)))
    if todo:
        _sweep(exp, todo, book, cache_s, workers, scheduler, progress, fresh)
    df = assemble(exp, out, list(paths.values()))
    from services.lab.plots import write_page_json, write_plots

    # the Lab page's JSON first, results.csv last: a listed result has its figures
    write_page_json(df, exp.model_dump(), out)
    summarize(df).to_csv(out / "summary.csv", index=False)
    if plots:
        write_plots(df, exp, out)
    df.to_csv(out / "results.csv", index=False)
    return df


def _sweep(
    exp: Experiment,
    todo: list[tuple[str, dict[str, Any], Path]],
    book: Any,
    cache: str | None,
    workers: int | None,
    scheduler: str | Any,
    progress: bool,
    fresh: bool,
) -> None:
    """Compute the ``todo`` cells on the cluster, each file written as its result comes."""
    from distributed import as_completed

    from services.lab.data import has_day

    remote = scheduler_address(scheduler) is not None
    if remote and not (cache or os.environ.get("AQKOL_LAB_CACHE")):
        log.warning(
            "no shared lab cache given (--cache or AQKOL_LAB_CACHE): each worker machine "
            "keeps its own days in runs/lab-cache/ and may simulate a day again"
        )
    n = max(1, min(workers or default_workers(), len(todo)))
    spare = not remote and n < (os.cpu_count() or 1)  # a free core for each cell's rule replay
    code = code_version(LAB_CODE)
    exp_json = exp.model_dump_json().encode()
    keys = {day_key(exp, c) for _, c, _ in todo}
    with cluster(n, scheduler, dashboard=progress) as client:
        if progress:
            from rich.console import Console

            where = scheduler_address(scheduler) or f"a local cluster of {n} processes"
            link = client.dashboard_link
            Console(stderr=True).print(
                f"{exp.id}: {len(todo)} cells on {where}"
                + (f"; Dask dashboard: {link}" if link else ""),
                highlight=False,
                soft_wrap=True,
            )
        days = {  # only the days the cache does not hold yet (as this machine sees it)
            k: client.submit(_simulate, k, cache, code, key=f"day-{k.digest()}", retries=1)
            for k in sorted(keys, key=lambda k: (k.scenario, k.seed))
            if not has_day(k, cache)
        }
        home = _homes(todo, exp, list(client.scheduler_info()["workers"]))
        futures = {}
        for i, c, p in todo:
            k = day_key(exp, c)
            spec = book.spec(c["policy"])
            f = client.submit(
                _run_cell, exp_json, c, cache, spec, spare, fresh, code, days.get(k),
                key=f"cell-{i}", retries=1,
                workers=home.get(k), allow_other_workers=True,
            )  # fmt: skip
            futures[f.key] = (f, p)
        bar = None
        if progress and sys.stdout.isatty():  # not into a log file, ten times a second
            bar = _progress_bar([*days.values(), *(f for f, _ in futures.values())], client)
        failed: list[BaseException] = []
        for f in as_completed([f for f, _ in futures.values()]):
            if f.status != "finished":  # the other cells are still written: a rerun resumes
                failed.append(
                    f.exception() if f.status == "error" else RuntimeError(f"{f.key}: {f.status}")
                )
                continue
            _write(futures[f.key][1], f.result())
            f.release()  # the result is on disk: the cluster forgets it
        if bar is not None:
            bar.join(timeout=10)
        if failed:
            raise failed[0]


def assemble(exp: Experiment, out: Path, files: list[Path]) -> pd.DataFrame:
    """The tidy table of the given cell files, in the experiment's cell order."""
    rows = []
    for f in files:
        blob = orjson.loads(f.read_bytes())
        for r in blob["rows"]:
            rows.append(
                {
                    "experiment": exp.id,
                    **blob["cell"],
                    "points": r.get("points"),
                    "rule": r.get("rule"),
                    "metric": r["metric"],
                    "value": r["value"],
                }
            )
    at = COLUMNS.index("metric")  # the swept town parameters after the lab's
    df = pd.DataFrame(rows, columns=[*COLUMNS[:at], *exp.town_swept(), *COLUMNS[at:]])
    return df.astype({"points": "Int64", "h3_res": "Int64", "k_min": "Int64"})


def timings(out: Path | str) -> pd.DataFrame:
    """Seconds per stage of every finished cell of a results folder."""
    rows = []
    for f in sorted((Path(out) / "cells").glob("*.json")):
        blob = orjson.loads(f.read_bytes())
        rows.append({**blob["cell"], **blob["timing"]})
    return pd.DataFrame(rows)


SUMMARY = ["policy", "metric", "points", "mean", "ci_low", "ci_high", "n"]
CELL_KEYS = [
    "scenario",
    "h3_res",
    "time_bucket_min",
    "epsilon",
    "salt",
    "k_min",
    "retention_days",
    "rule",
]


def summarize(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean of each metric over the seeds with its ``level`` confidence interval (Student's
    t over the per-seed values: the seeds are independent towns and days) and the number
    of seeds behind it, per policy, points and the cell's other coordinates. With one seed
    (or no value) the interval is NaN: nothing to estimate the spread from."""
    from scipy import stats

    town = [c for c in df.columns if c not in COLUMNS]  # the swept town parameters
    keys = ["policy", "metric", "points", *CELL_KEYS, *town]
    cols = [*SUMMARY, *CELL_KEYS, *town]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.dropna(subset=["value"]).groupby(keys, dropna=False, sort=False)["value"]
    t = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n"})
    half = stats.t.ppf(0.5 + level / 2, (t["n"] - 1).clip(lower=1)) * t["std"] / t["n"] ** 0.5
    half = half.where(t["n"] > 1)
    t["ci_low"], t["ci_high"] = t["mean"] - half, t["mean"] + half
    return t[cols].astype({"points": "Int64", "h3_res": "Int64", "k_min": "Int64"})
