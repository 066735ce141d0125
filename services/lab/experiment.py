"""Experiment files: a sweep of policies x seeds x parameters, validated like rules and policies.

```yaml
id: policy-frontier
title: What each shipped policy protects and costs
policies: [none, gdpr-minimal, edge-counts, eu-ai-act, dp-heatmaps]
seeds: [1, 2]
scenarios: [normal-winter-day]
hours: 24                  # default: the scenario's
population_scale: 1.0      # a smaller town for quick runs (0-1]
points: [1, 2, 4, 8]       # unicity: known points
metrics: [unicity, tracking, home_work, occupancy, linkage, trajectory, heatmap, heating, alerts,
          insulation]
grid:                      # every combination is one cell per policy and seed
  h3_res: [null, 9, 8]     # the known points' place: null = as the policy stores it
  time_bucket_min: [60]    # the known points' time bucket (the policy's, if coarser)
  epsilon: [null]          # heatmap noise; null = the policy's own
  salt: [null]             # pseudonym rotation daily | weekly | never; null = the policy's
  k_min: [null]            # heatmap suppression; null = the policy's
  retention_days: [null]   # every kind kept this many days; null = the policy's retention
  fpir: [0.003, 0.03]      # any town parameter (simulator.model.TOWN_PARAMETERS), as mesa's
  cameras: [60, 150]       # batch_run sweeps a model's keyword arguments
frontier: {privacy: unicity_all, points: 4, utility: heatmap_rel_error}
```

Town parameters (:data:`simulator.model.TOWN_PARAMETERS`, the keyword arguments of
:class:`simulator.model.Town`) are swept like the others: each combination is a town of its
own, simulated once per seed and cached under its own day key; a parameter the grid does
not name keeps the shipped town's value. A swept town parameter is a column of
``results.csv`` and ``summary.csv``. An unknown parameter, or a value out of range, is
refused at its line.

A broken file is refused with its file, line and reason (:class:`ExperimentError`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from services.events.yamldoc import YamlFileError, compose, node_at, parse_model
from services.lab.evaluate import Params
from services.lab.registry import measures, metric_names
from simulator.model import TOWN_PARAMETERS, check_parameters

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"


class ExperimentError(YamlFileError):
    """An experiment file that is refused: ``file:line: reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# the lab's own parameters of a cell (the attacker's and the policy's), in cell order
LAB_PARAMETERS = ("h3_res", "time_bucket_min", "epsilon", "salt", "k_min", "retention_days")


class _LabGrid(_Strict):
    h3_res: list[int | None] = Field(default_factory=lambda: [None])
    time_bucket_min: list[int] = Field(default_factory=lambda: [60])
    epsilon: list[float | None] = Field(default_factory=lambda: [None])
    salt: list[Literal["daily", "weekly", "never"] | None] = Field(default_factory=lambda: [None])
    k_min: list[int | None] = Field(default_factory=lambda: [None])
    retention_days: list[float | None] = Field(
        default_factory=lambda: [None],
        description="every kind kept this many days (overrides the policy's retention)",
    )

    def town(self) -> dict[str, list[Any]]:
        """The swept town parameters and their values, in :data:`TOWN_PARAMETERS` order."""
        return {n: v for n in TOWN_PARAMETERS if (v := getattr(self, n, None)) is not None}

    @model_validator(mode="after")
    def _ranges(self) -> _LabGrid:
        for r in self.h3_res:
            if r is not None and not 0 <= r <= 15:
                raise ValueError(f"h3_res {r} is not an H3 resolution (0-15)")
        for b in self.time_bucket_min:
            if not 1 <= b <= 7 * 24 * 60:
                raise ValueError(f"time_bucket_min {b} is not between 1 and 10080")
        for e in self.epsilon:
            if e is not None and not 0 < e <= 10:
                raise ValueError(f"epsilon {e} is not in (0, 10]")
        for k in self.k_min:
            if k is not None and not 1 <= k <= 1000:
                raise ValueError(f"k_min {k} is not between 1 and 1000")
        for r in self.retention_days:
            if r is not None and not 0 < r <= 3650:
                raise ValueError(f"retention_days {r} is not in (0, 3650]")
        for name in type(self).model_fields:
            if getattr(self, name) == []:
                raise ValueError(f"{name}: give at least one value")
        town = self.town()
        for name, values in town.items():
            if len(set(map(repr, values))) < len(values):
                raise ValueError(f"{name}: a value is given twice")
        for combo in itertools.product(*town.values()):  # every town of the sweep
            check_parameters(dict(zip(town, combo, strict=True)))
        return self


def _town_field(name: str) -> Any:
    p = TOWN_PARAMETERS[name]
    kind: Any = p.kind | None if p.optional else p.kind
    return (
        list[kind] | None,
        Field(None, description=f"town parameter (the shipped town: {p.default!r})"),
    )


# The grid: the lab's parameters and every town parameter (not swept unless named).
Grid = create_model(  # type: ignore[call-overload]
    "Grid", __base__=_LabGrid, **{name: _town_field(name) for name in TOWN_PARAMETERS}
)


class Frontier(_Strict):
    privacy: str = Field(
        "unicity_all", description="a metric of the results; higher = less private"
    )
    points: int | None = Field(4, description="for unicity: the number of known points")
    utility: str = Field("heatmap_rel_error", description="a metric; higher = more lost")

    @field_validator("privacy", "utility")
    @classmethod
    def _metric(cls, v: str) -> str:
        known = metric_names()
        if v not in known:
            raise ValueError(f"unknown metric {v!r} (known: {', '.join(sorted(known))})")
        return v


class Experiment(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=160)
    description: str = ""
    policies: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    scenarios: list[str] = Field(default_factory=lambda: ["normal-winter-day"], min_length=1)
    start: str | None = None
    hours: float | None = Field(None, gt=0, le=24 * 7)
    population_scale: float = Field(1.0, gt=0, le=1)
    points: list[int] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1)
    metrics: list[str] = Field(default_factory=lambda: list(measures()))
    grid: Grid = Field(default_factory=Grid)
    trace_days: int | None = Field(
        None,
        ge=1,
        le=28,
        description="trace attacks on this many days of camera passes (from Monday "
        "2026-01-12, straight from the day plans) instead of the simulated day's",
    )
    trajectory_people: int | None = Field(
        None, ge=2, le=20000, description="a sample for the trajectory attack; null: everyone"
    )
    release_hours: float = Field(
        3.0,
        gt=0,
        le=24,
        description="the release schedule of the released layers (trajectory, heatmap): one "
        "layer per window of this many hours; its day must fit each policy's daily budget",
    )
    alert_rules: list[str] | None = None
    frontier: Frontier = Field(default_factory=Frontier)

    @field_validator("policies")
    @classmethod
    def _policies(cls, v: list[str]) -> list[str]:
        from services.policy.active import PolicyBook

        known = {p.id for p in PolicyBook().items}
        for p in v:
            if p not in known:
                raise ValueError(f"unknown policy {p!r} (known: {', '.join(sorted(known))})")
        return v

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, v: list[str]) -> list[str]:
        from services.events.scenarios import load_scenario

        for s in v:
            try:
                load_scenario(s)
            except Exception as exc:  # the scenario loader's own error says why
                raise ValueError(f"scenario {s!r}: {exc}") from None
        return v

    @field_validator("alert_rules")
    @classmethod
    def _rules(cls, v: list[str] | None) -> list[str] | None:
        from services.rules.book import RuleBook

        known = {r.id for r in RuleBook().rules}
        for r in v or []:
            if r not in known:
                raise ValueError(f"unknown rule {r!r} (known: {', '.join(sorted(known))})")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        known = measures()
        for i, g in enumerate(v):
            if g not in known:
                raise ValueError(f"metrics.{i}: unknown {g!r} (known: {', '.join(known)})")
        return v

    @field_validator("points")
    @classmethod
    def _points(cls, v: list[int]) -> list[int]:
        for p in v:
            if not 1 <= p <= 64:
                raise ValueError(f"points {p} is not between 1 and 64")
        return v

    @model_validator(mode="after")
    def _trace_only(self) -> Experiment:
        trace = [g for g, m in measures().items() if "traces" in m.inputs]
        if self.trace_days is not None and not set(self.metrics) <= set(trace):
            raise ValueError(f"trace_days runs the trace attacks only: metrics {', '.join(trace)}")
        return self

    @model_validator(mode="after")
    def _one_scale(self) -> Experiment:
        if "population_scale" in self.model_fields_set and self.grid.population_scale:
            raise ValueError(
                "population_scale is given both at the top and in the grid: give it once"
            )
        return self

    def town_swept(self) -> list[str]:
        """The town parameters the grid sweeps (columns of the results), in order."""
        return list(self.grid.town())

    def town(self, cell: dict[str, Any]) -> dict[str, Any]:
        """The town parameters of a cell: the swept ones and ``population_scale``."""
        return {
            "population_scale": self.population_scale,
            **{n: cell[n] for n in self.town_swept()},
        }

    @model_validator(mode="after")
    def _budget(self) -> Experiment:
        """A sweep whose releases would overspend a policy's daily budget is refused."""
        if not {"trajectory", "heatmap"} & set(self.metrics):
            return self
        from services.lab.evaluate import BudgetExceeded, check_schedule, policy_with
        from services.policy.active import PolicyBook

        book = PolicyBook()
        for pid in self.policies:
            for eps in self.grid.epsilon:
                spec = policy_with(book.spec(pid), Params(epsilon=eps))
                try:
                    check_schedule(spec, self.release_hours)
                except BudgetExceeded as exc:
                    raise ValueError(str(exc)) from None
        return self

    def cells(self) -> list[dict[str, Any]]:
        """One dict per (policy, scenario, seed, parameters) to evaluate: the lab's
        parameters (:data:`LAB_PARAMETERS`), then the swept town parameters."""
        g = self.grid
        town = g.town()
        names = ["policy", "scenario", "seed", *LAB_PARAMETERS, *town]
        axes = [
            self.policies,
            self.scenarios,
            self.seeds,
            *(getattr(g, n) for n in LAB_PARAMETERS),
            *town.values(),
        ]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]

    def params(self, cell: dict[str, Any]) -> Params:
        """The evaluation parameters of one cell."""
        return Params(
            h3_res=cell["h3_res"],
            time_bucket_min=cell["time_bucket_min"],
            epsilon=cell["epsilon"],
            salt=cell["salt"],
            k_min=cell["k_min"],
            retention_days=cell.get("retention_days"),
            points=tuple(self.points),
            trajectory_people=self.trajectory_people,
            release_hours=self.release_hours,
            alert_rules=None if self.alert_rules is None else tuple(self.alert_rules),
        )


def parse_experiment(text: str, file: str = "<experiment>") -> Experiment:
    """Validate one experiment file; raise :class:`ExperimentError` naming file and line.

    A grid parameter that is neither the lab's nor the town's is refused at its line with
    the known ones; a grid value out of range at the line of its parameter."""
    try:
        return parse_model(text, file, Experiment, ExperimentError, "an experiment")
    except ExperimentError as exc:
        raise _grid_error(exc, text) from None


def _grid_error(exc: ExperimentError, text: str | None) -> ExperimentError:
    """``exc`` about the grid, said more precisely: which parameters are known, at which
    line the parameter is."""
    m = re.match(r"grid\.(\w+): unknown field", exc.reason)
    if m:
        return ExperimentError(
            exc.file,
            exc.line,
            f"grid.{m[1]}: unknown parameter {m[1]!r}: neither the lab's "
            f"({', '.join(LAB_PARAMETERS)}) nor the town's ({', '.join(TOWN_PARAMETERS)})",
        )
    m = re.match(r"(grid|\(top level\)): (\w+)", exc.reason)
    if m and text is not None:  # a check of the grid or the file: the grid parameter's line
        try:
            root, _ = compose(text, exc.file)
        except YamlFileError:
            return exc
        grid = node_at(root, ("grid",))
        node = node_at(grid, (m[2],)) if grid is not root else grid
        if node is not grid:
            return ExperimentError(exc.file, node.start_mark.line + 1, exc.reason)
    return exc


def load_experiment(path: Path | str) -> Experiment:
    """An experiment by path, or by id from ``experiments/``."""
    from services.filebook import load_file

    p = Path(path)
    if not p.exists() and not p.suffix:
        p = EXPERIMENTS_DIR / f"{path}.yaml"
    return load_file(p, parse_experiment, ExperimentError)
