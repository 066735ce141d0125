"""Run an experiment: every cell on all cores, resumable, into a tidy CSV and plots.

Each cell (policy, scenario, seed, parameters) writes its own result file
``<out>/cells/<cell-id>.json``; a rerun skips the cells whose file exists, so an interrupted
sweep picks up where it stopped. The days are simulated first, each once (in parallel,
into the lab cache, :mod:`services.lab.data`); then the cells run in a
``ProcessPoolExecutor`` over ``os.cpu_count()`` workers. ``results.csv`` (one row per
metric value: tidy) is assembled from the cell files, and the plots are drawn from it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

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


def _simulate(key: DayKey, cache: str | None) -> str:
    _quiet()
    load_day(key, Path(cache) if cache else None)
    return key.digest()


def _run_cell(
    exp_json: bytes,
    cell: dict[str, Any],
    path: str,
    cache: str | None,
    concurrent: bool = False,
    policies: str | None = None,
    fresh: bool = False,
) -> str:
    """Evaluate one cell and write its result file (atomically); ``concurrent``: replay the
    rules in a second process (when the workers leave a core free); ``fresh``: replay them
    even when the day's cache has their scores."""
    from services.lab.evaluate import evaluate
    from services.policy.active import PolicyBook

    _quiet()
    exp = Experiment.model_validate_json(exp_json)
    key = day_key(exp, cell)
    day = _DAYS.get(key)
    if day is None:
        _DAYS.clear()  # one day in memory per worker
        day = _DAYS[key] = load_day(key, Path(cache) if cache else None)
    sightings = None
    if exp.trace_days:  # the trace attacks on a longer span of camera passes
        from services.lab.data import load_week

        sightings = load_week(
            cell["seed"], exp.trace_days, cache=Path(cache) if cache else None, **exp.town(cell)
        )
    timing: dict[str, float] = {}
    t = time.perf_counter()
    rows = evaluate(
        sightings=sightings,
        day=day,
        spec=(PolicyBook(policies) if policies else PolicyBook()).spec(cell["policy"]),
        params=exp.params(cell),
        metrics=tuple(exp.metrics),
        seed=cell["seed"],
        timing=timing,
        concurrent=concurrent,
        alert_cache=not fresh,
    )
    timing["total_s"] = time.perf_counter() - t
    out = Path(path)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps({"cell": cell, "rows": rows, "timing": timing}))
    tmp.replace(out)
    return out.name


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def run(
    experiment: str | Path | Experiment,
    out: Path | str | None = None,
    workers: int | None = None,
    cache: Path | str | None = None,
    progress: bool = False,
    plots: bool = True,
    fresh: bool = False,
    policies: Path | str | None = None,
) -> pd.DataFrame:
    """Run (or resume) ``experiment``; returns the tidy results (also ``<out>/results.csv``
    and, over the seeds, ``<out>/summary.csv``). A cell whose result file exists (same
    content address, :func:`cell_id`) is not computed again, unless ``fresh``; ``policies``:
    the folder of policy files (default: the repo's)."""
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    out = Path(out) if out else DEFAULT_OUT / exp.id
    (out / "cells").mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_bytes(
        orjson.dumps(exp.model_dump(), option=orjson.OPT_INDENT_2)
    )
    cache_s = str(cache) if cache else None
    cells = exp.cells()
    from services.policy.active import PolicyBook

    pol = Path(policies) if policies else None
    book = PolicyBook(pol or POLICIES)
    ids = [cell_id(c, exp, book) for c in cells]
    paths = {i: out / "cells" / f"{i}.json" for i in ids}
    todo = [(c, p) for c, p in zip(cells, paths.values(), strict=True) if fresh or not p.exists()]
    # a worker reuses its day: the cells of one day (scenario, seed, town) in a row
    todo.sort(key=lambda cp: (cp[0]["scenario"], cp[0]["seed"], repr(day_key(exp, cp[0]).town)))
    workers = max(1, min(workers or default_workers(), len(todo) or 1))
    if todo:
        from services.lab.data import DEFAULT_CACHE

        base = Path(cache_s or os.environ.get("AQKOL_LAB_CACHE") or DEFAULT_CACHE)
        keys = sorted(
            {day_key(exp, c) for c, _ in todo},
            key=lambda k: (k.scenario, k.seed),
        )
        keys = [k for k in keys if not (base / k.digest() / "events.pkl").exists()]
        exp_json = exp.model_dump_json().encode()
        with _progress(progress) as bar, ProcessPoolExecutor(workers) as pool:
            if keys:
                task = bar.add_task("simulating days", total=len(keys))
                for f in as_completed([pool.submit(_simulate, k, cache_s) for k in keys]):
                    f.result()
                    bar.advance(task)
            task = bar.add_task(f"{exp.id}: cells", total=len(todo))
            spare = workers < (os.cpu_count() or 1)  # a free core for each cell's rule replay
            pol_s = str(pol) if pol else None
            futures = [
                pool.submit(_run_cell, exp_json, c, str(p), cache_s, spare, pol_s, fresh)
                for c, p in todo
            ]
            for f in as_completed(futures):
                f.result()
                bar.advance(task)
    df = assemble(exp, out, list(paths.values()))
    df.to_csv(out / "results.csv", index=False)
    summarize(df).to_csv(out / "summary.csv", index=False)
    if plots:
        from services.lab.plots import write_plots

        write_plots(df, exp, out)
    return df


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
