"""The face-ID turnstile at the command center (``access.entry``).

The command center sits in the akimat; everyone who works there passes a face-recognition
turnstile on the way in and out (from the people plan: legs that end or start at the
akimat). The face is matched to the employee's badge; now and then it is not recognised
(``FALSE_REJECT``), the turnstile refuses, and the employee tries again (face, or the
badge card after two failures). The truth records who really passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from simulator.clock import DAY_MS, SECOND_MS
from simulator.geography import TownMap
from simulator.people import DayPlan, Population, child_seq

FALSE_REJECT = 0.04
PLACE = "akimat"


class Turnstile:
    def __init__(
        self,
        town: TownMap,
        pop: Population,
        plan_for: Callable[[int], DayPlan],
        ss: np.random.SeedSequence,
    ):
        self.town, self.pop, self.plan_for, self.ss = town, pop, plan_for, ss
        self.place = next(i for i, p in enumerate(town.places) if p.id == PLACE)
        staff = np.flatnonzero(pop.day_place == self.place)
        self.badge = {int(r): f"emp-{k + 1:04d}" for k, r in enumerate(staff)}
        self.xy = town.places[self.place].entrance
        self.source = "turnstile-akimat"

    def day_events(self, day: int) -> list[tuple]:
        rng = np.random.default_rng(child_seq(self.ss, day))
        legs = self.plan_for(day).legs
        inn = np.flatnonzero(legs.dest_place == self.place)
        out = np.flatnonzero(legs.orig_place == self.place)
        passes = [(int(legs.t1[i]) + 4 * SECOND_MS, int(legs.person[i]), "in") for i in inn]
        passes += [(int(legs.t0[i]) - 2 * SECOND_MS, int(legs.person[i]), "out") for i in out]
        passes.sort()
        events = []
        for t, person, direction in passes:
            badge = self.badge.get(person)
            for attempt in range(3):
                method = "face" if attempt < 2 else "card"
                ok = method == "card" or (badge is not None and rng.random() >= FALSE_REJECT)
                like = float(rng.uniform(0.86, 0.99) if ok else rng.uniform(0.3, 0.7))
                data = {
                    "badge": badge if ok else None,
                    "direction": direction,
                    "decision": "granted" if ok else "denied",
                    "method": method,
                    "likelihood": round(like if method == "face" else 1.0, 3),
                }
                truth = {"resident": Population.id(person), "attempt": attempt + 1}
                events.append((t, data, truth))
                if ok:
                    break
                t += int(rng.integers(6, 20)) * SECOND_MS
        events.sort(key=lambda e: e[0])
        return events

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            for t, data, truth in self.day_events(day):
                if t_start <= t < t_end:
                    yield t, "access.entry", self.source, data, self.xy, truth
