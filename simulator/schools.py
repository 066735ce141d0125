"""School attendance: who stays home, and the class registers that count them.

Every school day each pupil may be absent (illness, family reasons) with a base probability;
on cold days the probability rises, far more for children from poorly insulated homes (a
cold house, a cold child): ``ABSENCE_BASE + COLD_SLOPE[class] x max(0, COLD_BELOW_C - T)``
with ``T`` the day's mean temperature and ``class`` the home's hidden insulation class
(:func:`simulator.gas.insulation_class`). An absent pupil stays home all day (the people
plan drops the walk to school, so gate cameras and gas meters see it too).

The registers (``school.attendance``) report per class, once a day at 09:00: enrolled,
present, absent. Classes are fixed for the run: pupils of a school and grade
(age - 5, capped at 11), split into sections of at most 30 (7A, 7B, ...). Only counts leave the
school; the truth keeps who was absent, so that an analyst who finds the link between cold,
absence and insulation from the data alone can be checked.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.clock import DAY_MS, Clock, hm
from simulator.gas import INSULATION_CLASSES, insulation_class
from simulator.geography import TownMap
from simulator.people import ROLE_PUPIL, Population, child_seq
from simulator.weather import Weather

ABSENCE_BASE = 0.04
COLD_BELOW_C = -12.0
COLD_SLOPE = np.array([0.002, 0.004, 0.014])  # per degree below, by insulation class
CLASS_SIZE = 30
REGISTER_AT = hm(9)


class Schools:
    def __init__(
        self,
        town: TownMap,
        pop: Population,
        weather: Weather,
        clock: Clock,
        ss: np.random.SeedSequence,
    ):
        self.town, self.pop, self.weather, self.clock, self.ss = town, pop, weather, clock, ss
        self.pupils = np.flatnonzero(pop.role == ROLE_PUPIL)
        self.home_class = insulation_class(town.households)[pop.household[self.pupils]]
        grade = np.clip(pop.age[self.pupils] - 5, 1, 11).astype(np.int64)
        school = pop.day_place[self.pupils].astype(np.int64)
        # classes: by school and grade, then sections of at most CLASS_SIZE in id order
        self.classes: list[tuple[str, str, int, np.ndarray]] = []  # (school, id, grade, rows)
        self.class_of = np.zeros(len(self.pupils), dtype=np.int64)
        for s in np.unique(school):
            for g in range(1, 12):
                rows = np.flatnonzero((school == s) & (grade == g))
                if not len(rows):
                    continue
                k = -(-len(rows) // CLASS_SIZE)
                for j, part in enumerate(np.array_split(rows, k)):
                    pid = town.places[int(s)].id
                    self.class_of[part] = len(self.classes)
                    self.classes.append((pid, f"{pid}-{g}{'ABCDEFGHIJKLMNOP'[j]}", g, part))
        self._absent: dict[int, np.ndarray] = {}

    def school_day(self, day: int) -> bool:
        return self.clock.weekday(day) < 5

    def absent_mask(self, day: int) -> np.ndarray:
        """Per pupil (rows of ``self.pupils``): absent on ``day``."""
        if day not in self._absent:
            if len(self._absent) > 2:
                self._absent.pop(min(self._absent))
            rng = np.random.default_rng(child_seq(self.ss, 1000 + day))  # day may be -1
            u = rng.random(len(self.pupils))  # drawn every day, school or not
            cold = max(0.0, COLD_BELOW_C - self.weather.daily_mean(day))
            p = ABSENCE_BASE + COLD_SLOPE[self.home_class] * cold
            self._absent[day] = (u < p) & self.school_day(day)
        return self._absent[day]

    def absent_residents(self, day: int) -> np.ndarray:
        return self.pupils[self.absent_mask(day)]

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            if not self.school_day(day):
                continue
            absent = self.absent_mask(day)
            date = self.clock.dt(day * DAY_MS).date().isoformat()
            for k, (school, cid, grade, rows) in enumerate(self.classes):
                t = day * DAY_MS + REGISTER_AT + k * 2000
                if t < t_start or t >= t_end:
                    continue
                out = rows[absent[rows]]
                place = self.town.place(school)
                data = {
                    "school": school,
                    "class_id": cid,
                    "grade": grade,
                    "date": date,
                    "enrolled": len(rows),
                    "present": len(rows) - len(out),
                    "absent": len(out),
                }
                by_class = np.bincount(self.home_class[out], minlength=3)
                truth = {
                    "absent_residents": [Population.id(int(self.pupils[i])) for i in out],
                    "absent_by_insulation": {
                        c: int(by_class[j]) for j, c in enumerate(INSULATION_CLASSES)
                    },
                    "enrolled_by_insulation": {
                        c: int(n)
                        for c, n in zip(
                            INSULATION_CLASSES,
                            np.bincount(self.home_class[rows], minlength=3),
                            strict=True,
                        )
                    },
                }
                yield t, "school.attendance", cid.lower(), data, place.entrance, truth
