"""Simulate a day: the research harness's one way to drive the simulator.

The lab (:mod:`services.lab.data`, which caches the day) and the rules test bench
(:mod:`services.lab.rulebench`, which replays it through rules) both start here: the
scenario's defaults for start and hours, the town with only the kinds asked for, and the
ground truth split as the events stream by (a record per event id, and the incidents).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.events.scenarios import Scenario, load_scenario
from services.events.town import DEFAULT_START
from simulator.model import Town


@dataclass
class SimulatedDay:
    """A town set up for a scenario's day. :meth:`events` streams its events in time order;
    meanwhile :attr:`truths` (per event id, popped by whoever joins them) and
    :attr:`incidents` fill up."""

    town: Town
    scenario: Scenario
    start: datetime
    hours: float
    truths: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def _truth(self, rec: dict[str, Any]) -> None:
        if rec.get("kind") == "incident":
            self.incidents.append(rec)
        else:
            self.truths[rec["id"]] = rec

    def events(self) -> Iterator[dict[str, Any]]:
        """The town's events over the day (each once: a day streams once)."""
        return self.town.events(self.hours, truth=self._truth)


def simulate_day(
    scenario: str | Scenario,
    seed: int = 1,
    *,
    start: datetime | None = None,
    hours: float | None = None,
    kinds: Iterable[str] | None = None,
    **town_params: Any,
) -> SimulatedDay:
    """The day of ``scenario`` (a name of ``scenarios/`` or a loaded one) for ``seed``:
    from ``start`` (default: the scenario's, else the contract's default start) for
    ``hours`` (default: the scenario's, else 24), producing only ``kinds`` (default: all),
    with the town parameters ``town_params`` (:class:`simulator.model.Town`)."""
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    start = start or sc.start or DEFAULT_START
    hours = hours or sc.hours or 24.0
    town = Town(seed=seed, start=start, scenario=sc, kinds=kinds, **town_params)
    return SimulatedDay(town, sc, start, hours)
