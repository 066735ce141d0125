"""The lab's metrics: one module per attack or utility measure, registered by one line.

A module registers a measure with :func:`register`: its group name, the metric names its
rows carry, and the inputs it reads (:data:`Input`). ``evaluate()`` prepares the inputs the
asked measures declare, then runs each of them, in registration order, on one shared
:class:`services.lab.evaluate.Context`. Adding an attack is one file in
``services/lab/attacks/`` plus its line in :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

# What a measure reads of the evaluation's Context besides the day and the policy:
# "kept": the frames of what the policy keeps (ctx.frames, ctx.raw, ctx.kept);
# "traces": the face captures the policy keeps (ctx.traces; such measures can run on
#   trace_days spans); "alerts": the rules replayed on the kept events (ctx.alert_scores).
Input = Literal["kept", "traces", "alerts"]
INPUTS: frozenset[str] = frozenset(get_args(Input))

# one line per measure module; the order is the order they run in (alerts last: their rule
# replay runs in forked processes meanwhile)
MODULES = (
    "services.lab.attacks.unicity",
    "services.lab.attacks.tracking",
    "services.lab.attacks.relink",
    "services.lab.attacks.homework",
    "services.lab.attacks.occupancy",
    "services.lab.attacks.linkage",
    "services.lab.attacks.trajectory",
    "services.lab.utility",
    "services.lab.insulation",
    "services.lab.alerts",
)


@dataclass(frozen=True)
class Measure:
    """One group of metrics an experiment can ask for (``metrics: [group, ...]``)."""

    group: str
    names: tuple[str, ...]  # every metric name its rows can carry
    run: Callable[[Any], None]  # (Context) -> None, writing rows with ctx.put
    inputs: frozenset[Input] = frozenset()  # what it reads (see Input)


_REGISTRY: dict[str, Measure] = {}


def register(
    group: str, names: tuple[str, ...] | list[str], *, inputs: Iterable[Input] = ()
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register ``fn(ctx)`` as the measure ``group`` writing the metrics ``names`` from
    ``inputs``; an input the evaluation does not prepare is refused here."""
    unknown = set(inputs) - INPUTS
    if unknown:
        raise ValueError(f"{group}: unknown inputs {sorted(unknown)} (known: {sorted(INPUTS)})")

    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        _REGISTRY[group] = Measure(group, tuple(names), fn, frozenset(inputs))
        return fn

    return deco


def measures() -> dict[str, Measure]:
    """Every registered measure, by group, in :data:`MODULES` order."""
    for mod in MODULES:
        importlib.import_module(mod)
    rank = {mod: i for i, mod in enumerate(MODULES)}
    return dict(
        sorted(_REGISTRY.items(), key=lambda kv: rank.get(kv[1].run.__module__, len(MODULES)))
    )


def metric_names() -> frozenset[str]:
    """Every metric name a row of ``results.csv`` can carry."""
    return frozenset(n for m in measures().values() for n in m.names)
