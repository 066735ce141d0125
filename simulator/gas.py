"""Household gas meters: one reading per 30-minute interval.

m3 per interval = heating + cooking:

- heating (houses with their own gas boiler only; flats have district heating):
  ``HEATING_K * max(0, 15.5 - T) * insulation * floor_area``, turned down a little at night
  and when nobody is home, with some boiler-cycling noise (15.5 C: the usual heating
  degree-day base);
- cooking (every metered household, only when someone is home): peaks in the morning,
  at midday and in the evening, none at night, more with more people at home.

A few readings are lost in transmission. The meter id follows the household
(``gas-0042`` belongs to ``hh-0042``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.geography import TownMap
from simulator.people import DayPlan
from simulator.weather import Weather

INTERVAL_MIN = 30
INTERVAL_MS = INTERVAL_MIN * MINUTE_MS
HEATING_BASE_C = 15.5
HEATING_K = 1.4e-4  # m3 per half hour per m2 per kelvin at insulation factor 1
MISSED = 0.004  # share of readings lost


def cooking_rate(hour: float) -> float:
    """m3 per half hour for a household cooking with gas, by hour of the day."""
    if 6.25 <= hour < 8.75:
        return 0.07
    if 12 <= hour < 14:
        return 0.05
    if 17.5 <= hour < 21:
        return 0.12
    if 8.75 <= hour < 17.5:
        return 0.015
    if 21 <= hour < 23:
        return 0.02
    return 0.0


def night_setback(hour: float) -> float:
    return 0.85 if (hour >= 23 or hour < 6) else 1.0


class GasMeters:
    def __init__(
        self,
        town: TownMap,
        rows: np.ndarray,
        weather: Weather,
        plan_for: Callable[[int], DayPlan],
        rng: np.random.Generator,
    ):
        hh = town.households
        self.town, self.weather, self.plan_for, self.rng = town, weather, plan_for, rng
        self.rows = rows[hh.gas_meter[rows]]  # metered households among those simulated
        offsets = rng.integers(0, 150_000, size=len(self.rows))  # upload lag after the interval
        order = np.argsort(offsets, kind="stable")
        self.rows, self.offsets = self.rows[order], offsets[order]
        self.gas_heated = hh.heating[self.rows] == 0
        self.heat_coeff = HEATING_K * hh.insulation[self.rows] * hh.floor_area[self.rows]
        self.residents = hh.residents[self.rows]
        self.sources = [f"gas-{r + 1:04d}" for r in self.rows]
        self.households = [hh.id(int(r)) for r in self.rows]
        self.accounts = [hh.account[int(r)] for r in self.rows]
        self.xy = [(float(hh.x[r]), float(hh.y[r])) for r in self.rows]

    def interval_m3(self, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """(m3, residents at home) of every meter for the interval ending at ``end_ms``."""
        rng = self.rng
        n = len(self.rows)
        start = end_ms - INTERVAL_MS
        temp = float(
            np.mean(self.weather.temperature(start + np.array([0, 1, 2]) * INTERVAL_MS / 2))
        )
        mid = start + INTERVAL_MS // 2
        hour = (mid % DAY_MS) / HOUR_MS
        home = self.plan_for(mid // DAY_MS).home_counts(mid, self.rows)
        someone = home > 0
        demand = max(0.0, HEATING_BASE_C - temp)
        setback = night_setback(hour) * np.where(someone, 1.0, 0.9)
        heat = self.gas_heated * self.heat_coeff * demand * setback * rng.lognormal(0, 0.1, n)
        cook = cooking_rate(hour) * (0.4 + 0.25 * home) * rng.gamma(2.0, 0.5, n) * someone
        return np.clip(heat + cook, 0, 100), home

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        k = -(-t_start // INTERVAL_MS)
        while True:
            end = k * INTERVAL_MS
            if end >= t_end:
                return
            k += 1
            m3, home = self.interval_m3(end)
            missed = self.rng.random(len(self.rows)) < MISSED
            for i in range(len(self.rows)):
                t = end + int(self.offsets[i])
                if missed[i] or t < t_start:
                    continue
                if t >= t_end:
                    break
                data = {"m3": round(float(m3[i]), 3), "interval_min": INTERVAL_MIN}
                data["household"] = self.households[i]
                if self.accounts[i] is not None:
                    data["account"] = self.accounts[i]
                truth = {"occupants_home": int(home[i]), "residents": int(self.residents[i])}
                yield t, "gas.reading", self.sources[i], data, self.xy[i], truth
