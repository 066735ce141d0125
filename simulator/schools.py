"""School attendance: who stays home, and the class registers that count them.

Every school day each pupil may be absent (illness, family reasons) with a base probability;
on cold days the probability rises, far more for children from poorly insulated homes (a
cold house, a cold child): ``ABSENCE_BASE + COLD_SLOPE[class] x max(0, COLD_BELOW_C - T)``
with ``T`` the day's mean temperature and ``class`` the home's hidden insulation class
(:func:`simulator.gas.insulation_class`). An absent pupil stays home all day (the people
plan drops the walk to school, so gate cameras and gas meters see it too).

The registers (``school.attendance``) report per class, once a day: enrolled, present,
absent. Classes are fixed for the run: pupils of a school and grade (age - 5, capped at 11),
split into sections of at most 30 (7A, 7B, ...). Each class has a shift (``SECOND_SHIFT_GRADES``
study in the afternoon, as in many Kazakh schools); the people plan sends a pupil to school
in the class's shift, and the register is taken an hour into the shift (09:00 or 14:00).
Who is present is read from that day's people plan (a pupil the plan sends to school in the
class's shift), so the registers agree with the walking model: a pupil kept home by illness
or cold, or taken out of school by a scenario (the missing child), is absent. Only counts
leave the school; the truth keeps who was absent, so that an analyst who finds the link
between cold, absence and insulation from the data alone can be checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from simulator.clock import DAY_MS, Clock, hm
from simulator.gas import INSULATION_CLASSES, insulation_class
from simulator.geography import TownMap
from simulator.people import ROLE_PUPIL, SHIFTS, DayPlan, Population, child_seq
from simulator.weather import Weather

ABSENCE_BASE = 0.04
COLD_BELOW_C = -12.0
COLD_SLOPE = np.array([0.002, 0.004, 0.014])  # per degree below, by insulation class
CLASS_SIZE = 30
REGISTER_AT = (hm(9), hm(14))  # by shift
SECOND_SHIFT_GRADES = (2, 3, 4)  # about a quarter of the pupils study in the afternoon


class Schools:
    def __init__(
        self,
        town: TownMap,
        pop: Population,
        weather: Weather,
        clock: Clock,
        ss: np.random.SeedSequence,
        plan_for: Callable[[int], DayPlan] | None = None,
    ):
        self.town, self.pop, self.weather, self.clock, self.ss = town, pop, weather, clock, ss
        self.plan_for = plan_for
        self.pupils = np.flatnonzero(pop.role == ROLE_PUPIL)
        self.home_class = insulation_class(town.households)[pop.household[self.pupils]]
        grade = np.clip(pop.age[self.pupils] - 5, 1, 11).astype(np.int64)
        school = pop.day_place[self.pupils].astype(np.int64)
        # classes: by school and grade, then sections of at most CLASS_SIZE in id order
        self.classes: list[tuple[str, str, int, np.ndarray]] = []  # (school, id, grade, rows)
        self.class_shift: list[int] = []
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
                    self.class_shift.append(int(g in SECOND_SHIFT_GRADES))
        # per resident: the shift of the pupil's class (-1: not a pupil)
        self.shift_of = np.full(len(pop), -1, dtype=np.int64)
        self.shift_of[self.pupils] = np.array(self.class_shift, dtype=np.int64)[self.class_of]
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
        """Pupils kept home on ``day`` by illness or cold (the plan drops their walk)."""
        return self.pupils[self.absent_mask(day)]

    def present_mask(self, day: int, plan: DayPlan) -> np.ndarray:
        """Per pupil (rows of ``self.pupils``): sent to school in the class's shift by ``plan``."""
        pupil_row = np.full(len(self.pop), -1, dtype=np.int64)
        pupil_row[self.pupils] = np.arange(len(self.pupils))
        vp = plan.visit_person
        row = pupil_row[vp]
        shift = self.shift_of[vp]
        base = day * DAY_MS
        start = base + np.array([s[0] for s in SHIFTS])[np.maximum(shift, 0)]
        end = base + np.array([s[1] for s in SHIFTS])[np.maximum(shift, 0)]
        sel = (
            (row >= 0)
            & (plan.visit_place == self.pop.day_place[vp])
            & (plan.visit_arrive < end)
            & (plan.visit_leave > start)
        )
        present = np.zeros(len(self.pupils), dtype=bool)
        present[row[sel]] = True
        return present

    def absent_on(self, day: int) -> np.ndarray:
        """Per pupil: absent from the register on ``day`` (read from the day's plan)."""
        if self.plan_for is None:
            return self.absent_mask(day)
        return ~self.present_mask(day, self.plan_for(day))

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        for day in range(t_start // DAY_MS, (t_end - 1) // DAY_MS + 1):
            if not self.school_day(day):
                continue
            base = day * DAY_MS
            times = [
                base + REGISTER_AT[self.class_shift[k]] + k * 2000 for k in range(len(self.classes))
            ]
            if not any(t_start <= t < t_end for t in times):
                continue
            absent = self.absent_on(day)
            date = self.clock.dt(day * DAY_MS).date().isoformat()
            for k in sorted(range(len(self.classes)), key=times.__getitem__):
                school, cid, grade, rows = self.classes[k]
                t = times[k]
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
                    "shift": self.class_shift[k] + 1,
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
