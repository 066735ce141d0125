"""The privacy lab: what each policy protects and what it costs, against the ground truth.

From Python (docs/python-api.md)::

    from services import lab

    exp = lab.load("quick-look", seeds=[1, 2, 3], population_scale=0.05)
    res = lab.run(exp, out="runs/quick")
    res.results   # tidy: one row per cell and metric value (results.csv)
    res.summary   # means over the seeds with 95% intervals (summary.csv)

``aqkol lab run`` does the same from the command line. See docs/lab.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from services.lab.experiment import Experiment

__all__ = ["LabRun", "load", "run"]


@dataclass
class LabRun:
    """What :func:`run` returns.

    Attributes:
        results: the tidy table (``results.csv``): one row per cell (policy, scenario, seed,
            the grid's parameters, swept town parameters among them) and metric value.
        summary: the mean of each metric over the seeds with its 95% confidence interval
            (Student's t) and the number of seeds (``summary.csv``).
        experiment: the experiment that ran.
        out: the results folder (``cells/``, ``results.csv``, ``summary.csv``, plots).
    """

    results: pd.DataFrame
    summary: pd.DataFrame
    experiment: Experiment
    out: Path


def load(source: str | Path | Mapping[str, Any] | Experiment, **changes: Any) -> Experiment:
    """An experiment: by id (``experiments/<id>.yaml``), by path, from a mapping of the
    file's fields, or an :class:`Experiment`; ``changes`` replace fields (validated as
    in a file: a ``grid`` given here replaces the whole grid). (Not ``lab.experiment``:
    that is the module :mod:`services.lab.experiment`.)

    >>> load("quick-look", seeds=[1], population_scale=0.05).population_scale
    0.05
    """
    from pydantic import ValidationError

    from services.lab.experiment import Experiment, ExperimentError, _grid_error, load_experiment

    if isinstance(source, Experiment):
        if not changes:
            return source
        fields, where = source.model_dump(exclude_unset=True), f"<experiment {source.id}>"
    elif isinstance(source, Mapping):
        fields, where = dict(source), "<experiment>"
    else:
        exp = load_experiment(source)
        if not changes:
            return exp
        fields, where = exp.model_dump(exclude_unset=True), str(source)
    try:
        return Experiment.model_validate({**fields, **changes})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        error = ExperimentError(where, None, f"{loc}: {msg.removeprefix('Value error, ')}")
        raise _grid_error(error, None) from None


def run(experiment: str | Path | Mapping[str, Any] | Experiment, **kw: Any) -> LabRun:
    """Run or resume an experiment (a path, an id in ``experiments/``, a mapping of its
    fields, or an :class:`Experiment`) and return its results and summary (:class:`LabRun`).

    Keyword arguments go to :func:`services.lab.runner.run`: ``out`` (the results folder;
    default ``runs/lab/<id>`` in the repository), ``cache`` (where simulated days are kept),
    ``plots`` (draw the figures), ``fresh``, ``progress``, ``policies``, ...
    A rerun with the same ``out`` reuses every finished cell.
    """
    from services.lab.runner import DEFAULT_OUT, summarize
    from services.lab.runner import run as _run

    exp = load(experiment)
    out = Path(kw.pop("out", None) or DEFAULT_OUT / exp.id)
    results = _run(exp, out=out, **kw)
    return LabRun(results=results, summary=summarize(results), experiment=exp, out=out)
