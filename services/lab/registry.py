"""The lab's metrics: one module per attack or utility measure, registered by one line.

A module registers a measure with :func:`register`; ``evaluate()`` runs every registered
measure the experiment asks for, in registration order, on one shared
:class:`services.lab.evaluate.Context`. Adding an attack is one file in
``services/lab/attacks/`` plus its line in :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    reads_kept: bool = False  # needs the policy applied to the day's events
    trace: bool = False  # reads the face traces only (runs on trace_days spans)


_REGISTRY: dict[str, Measure] = {}


def register(
    group: str, names: tuple[str, ...] | list[str], *, reads_kept: bool = False, trace: bool = False
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register ``fn(ctx)`` as the measure ``group`` writing the metrics ``names``."""

    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        _REGISTRY[group] = Measure(group, tuple(names), fn, reads_kept, trace)
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
