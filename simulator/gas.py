"""Household gas meters: one reading per 30-minute interval (or ``interval_min``).

Daily demand of a household, in kWh (converted to m3 at ``KWH_PER_M3``):

    k x max(0, 15.5 - T_eff) + base load per person

- ``T_eff`` is the BDEW four-day weighted temperature
  ``(T + 0.5 T-1 + 0.25 T-2 + 0.125 T-3) / 1.875`` of the daily means
  (:meth:`simulator.weather.Weather.t_eff`); 15.5 C is the usual heating base.
- ``k`` (kWh per degree-day) heats only houses with their own gas boiler (flats have district
  heating, some houses burn coal), and only in the heating season
  (:meth:`simulator.weather.Weather.heating_on`, the five-day +10 C rule). It follows the
  hidden insulation class: about 7 for a poorly insulated house, 4-5 average, 2.5-3.5 well
  insulated (``K_RANGE_KWH``), higher within the range for a larger house.
- base load: cooking for every metered household, plus hot water where a gas boiler makes
  it (``BASE_KWH_PER_PERSON``).

Intraday shape: the day's heating is spread over the day's intervals (48 of 30 minutes)
in proportion to the heating need of each (colder nights, with a night setback), with
boiler-cycling noise; cooking and hot water follow meal times and only when someone is
home. Daily totals vary a little from day to day (behaviour), with mean 1, so the slope
of daily consumption against ``T_eff`` recovers ``k``.

Only gas households have a meter (fuel ``gas``); a few readings are lost in transmission.
Meters are prepaid: where a bank account is linked, the bank tops the balance up
automatically (``payment.gas``) a few minutes after a reading takes it below
``TOPUP_BELOW_KZT`` (tariff ``TARIFF_KZT_PER_M3``; balances start at random from their own
stream, so payments never change the readings).
The meter id follows the household (``gas-0042`` belongs to ``hh-0042``). A scenario's gas
leak adds a steady flow to one meter from its start.

A meter can read at another interval (``GasMeters(interval_min=...)``, a divisor of a day
of at least 5 minutes): the day's use is spread over its intervals the same way, a leak's
flow and the pressure stay per unit of time (``m3_per_interval`` and the pressure
coefficients are per 30 minutes).

Each reading also carries the inlet pressure (``pressure_kpa``, see ``PRESSURE_*``): nominal
2 kPa, lower when the town draws a lot and lower at a meter with a large flow of its own,
which makes a leak visible as a pressure drop at its meter. The pressure of every other
meter does not depend on a leak.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulator.clock import DAY_MS, MINUTE_MS
from simulator.geography import Households, TownMap
from simulator.people import DayPlan
from simulator.weather import Weather

INTERVAL_MIN = 30
INTERVAL_MS = INTERVAL_MIN * MINUTE_MS
INTERVALS_PER_DAY = DAY_MS // INTERVAL_MS
HEATING_BASE_C = 15.5
KWH_PER_M3 = 10.5  # natural gas, lower calorific value
MISSED = 0.004  # share of readings lost
INSULATION_CLASSES = ("good", "average", "poor")
# kWh per degree-day by insulation class (the figures)
K_RANGE_KWH: dict[str, tuple[float, float]] = {
    "good": (2.5, 3.5),
    "average": (4.0, 5.0),
    "poor": (6.5, 7.5),
}
# heat-loss factor thresholds (Households.insulation) between the classes
GOOD_BELOW, POOR_ABOVE = 0.95, 1.3
BASE_KWH_PER_PERSON = {"boiler": 4.5, "cooking": 2.2}  # per day (KZ norms: ~0.2-0.4 m3)
DAY_NOISE_SD = 0.06
TARIFF_KZT_PER_M3 = 27.5  # household gas tariff, about (Akmola region)
TOPUP_BELOW_KZT = 1500.0
TOPUP_KZT = {"boiler": 15_000.0, "cooking": 3_000.0}
READING_NOISE_SD = 0.12
# inlet pressure (kPa gauge) of the low-pressure network: it sags town-wide with the town's
# draw and at a meter with that meter's own flow through its service line (so a leak behind
# a meter shows as a pressure drop there). Offsets and noise come from their own stream.
PRESSURE_NOMINAL_KPA = 2.0
PRESSURE_SITE_SD_KPA = 0.05  # position along the main
PRESSURE_TOWN_KPA_PER_M3 = 0.25  # per m3 of mean draw per meter per interval
PRESSURE_LINE_KPA_PER_M3 = 0.3  # per m3 through the meter in the interval
PRESSURE_NOISE_SD_KPA = 0.01


def insulation_class(hh: Households) -> np.ndarray:
    """0 = good, 1 = average, 2 = poor (index into ``INSULATION_CLASSES``), per household."""
    return np.digitize(hh.insulation, [GOOD_BELOW, POOR_ABOVE]).astype(np.int8)


def heating_k(hh: Households) -> np.ndarray:
    """kWh per degree-day of every household's dwelling (used only where gas heats it)."""
    cls = insulation_class(hh)
    lo = np.array([K_RANGE_KWH[c][0] for c in INSULATION_CLASSES])[cls]
    hi = np.array([K_RANGE_KWH[c][1] for c in INSULATION_CLASSES])[cls]
    size = np.clip((hh.floor_area - 55.0) / 75.0, 0, 1)  # houses are 55-130 m2
    return np.round(lo + (hi - lo) * size, 3)


def fuel(hh: Households) -> list[str]:
    """``gas`` where the household burns gas (and so has a meter), else ``electric``."""
    return ["gas" if m else "electric" for m in hh.gas_meter]


def household_truth(hh: Households, rows: np.ndarray) -> list[dict]:
    """The hidden household attributes of the simulated households (for the run folder)."""
    cls = insulation_class(hh)
    k = heating_k(hh)
    fuels = fuel(hh)
    out = []
    for r in rows:
        r = int(r)
        gas_heated = bool(hh.heating[r] == 0)
        out.append(
            {
                "household": hh.id(r),
                "residents": int(hh.residents[r]),
                "dwelling": "house" if hh.dwelling[r] == 0 else "flat",
                "floor_area_m2": float(hh.floor_area[r]),
                "heating": Households.HEATING_NAMES[int(hh.heating[r])],
                "fuel": fuels[r],
                "gas_meter": bool(hh.gas_meter[r]),
                "insulation_class": INSULATION_CLASSES[int(cls[r])],
                "k_kwh_per_degree_day": float(k[r]) if gas_heated else 0.0,
                "account": hh.account[r],
            }
        )
    return out


def cooking_rate(hour: float) -> float:
    """Relative gas use for cooking and hot water, by hour of the day."""
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


_HOURS = (np.arange(INTERVALS_PER_DAY) + 0.5) * INTERVAL_MIN / 60
_COOK = np.array([cooking_rate(h) for h in _HOURS])
COOK_SHAPE = _COOK / _COOK.sum()  # share of the day's base load in each interval
SETBACK = np.array([night_setback(h) for h in _HOURS])


@lru_cache(maxsize=8)
def day_shapes(interval_min: int) -> tuple[np.ndarray, np.ndarray]:
    """(cooking share, night setback) of each interval of a day of ``interval_min`` intervals."""
    if interval_min == INTERVAL_MIN:
        return COOK_SHAPE, SETBACK
    if not 5 <= interval_min <= 1440 or 1440 % interval_min:
        raise ValueError(
            "gas_interval_min must divide a day (1440 minutes) and be 5 or more, "
            f"not {interval_min}"
        )
    hours = (np.arange(1440 // interval_min) + 0.5) * interval_min / 60
    cook = np.array([cooking_rate(h) for h in hours])
    return cook / cook.sum(), np.array([night_setback(h) for h in hours])


@dataclass(frozen=True)
class Leak:
    """A scenario's gas leak: ``m3`` extra per interval at household row ``row``."""

    row: int
    t0: int
    t1: int
    m3: float


EARLY_MS = 6 * 3_600_000  # walks of the evening before may run this far past midnight


class GasMeters:
    def __init__(
        self,
        town: TownMap,
        rows: np.ndarray,
        weather: Weather,
        plan_for: Callable[[int], DayPlan],
        rng: np.random.Generator,
        leaks: tuple[Leak, ...] = (),
        pay_rng: np.random.Generator | None = None,
        interval_min: int = INTERVAL_MIN,
    ):
        self.cook_shape, self.setback = day_shapes(interval_min)
        self.interval_min = interval_min
        self.interval_ms = interval_min * MINUTE_MS
        self.per_day = DAY_MS // self.interval_ms
        self.per_30 = INTERVAL_MIN / interval_min  # a 30-minute flow from this interval's
        hh = town.households
        self.town, self.weather, self.plan_for, self.rng = town, weather, plan_for, rng
        self.rows = rows[hh.gas_meter[rows]]  # metered households among those simulated
        offsets = rng.integers(0, 150_000, size=len(self.rows))  # upload lag after the interval
        order = np.argsort(offsets, kind="stable")
        self.rows, self.offsets = self.rows[order], offsets[order]
        self.gas_heated = hh.heating[self.rows] == 0
        self.k = np.where(self.gas_heated, heating_k(hh)[self.rows], 0.0)
        self.residents = hh.residents[self.rows]
        self.resident_counts = self.residents.tolist()
        per_person = np.where(
            self.gas_heated, BASE_KWH_PER_PERSON["boiler"], BASE_KWH_PER_PERSON["cooking"]
        )
        self.base_kwh = per_person * self.residents
        self.sources = [f"gas-{r + 1:04d}" for r in self.rows]
        self.households = [hh.id(int(r)) for r in self.rows]
        self.accounts = [hh.account[int(r)] for r in self.rows]
        self.xy = [(float(hh.x[r]), float(hh.y[r])) for r in self.rows]
        where = {int(r): i for i, r in enumerate(self.rows)}
        self.leaks = [(where[lk.row], lk) for lk in leaks if lk.row in where]
        self.topup = np.where(self.gas_heated, TOPUP_KZT["boiler"], TOPUP_KZT["cooking"])
        self.linked = np.array([a is not None for a in self.accounts], dtype=bool)
        pay_rng = pay_rng or np.random.default_rng(0)
        self.balance = TOPUP_BELOW_KZT + pay_rng.random(len(self.rows)) * self.topup
        self.pay_lag = pay_rng.integers(60_000, 300_000, len(self.rows))  # bank processing
        p_rng = np.random.default_rng(pay_rng.integers(2**62))
        self.p_site = PRESSURE_NOMINAL_KPA + p_rng.normal(0, PRESSURE_SITE_SD_KPA, len(self.rows))
        self.p_seed = int(p_rng.integers(2**62))
        self._day: int | None = None
        self._heat_kwh = self._base_kwh = self._heat_shape = np.zeros(0)

    def _start_day(self, day: int) -> None:
        """The day's demand per meter (kWh) and the heating share of each interval."""
        n = len(self.rows)
        t_eff = self.weather.t_eff(day)
        s = DAY_NOISE_SD
        behaviour = self.rng.lognormal(-s * s / 2, s, n)
        heating = self.weather.heating_on(day)  # outside the season: cooking/hot water only
        self._heat_kwh = self.k * max(0.0, HEATING_BASE_C - t_eff) * behaviour * heating
        self._base_kwh = self.base_kwh * self.rng.lognormal(-s * s / 2, s, n)
        mids = day * DAY_MS + (np.arange(self.per_day) + 0.5) * self.interval_ms
        need = self.setback * np.maximum(1.0, HEATING_BASE_C - self.weather.temperature(mids))
        self._heat_shape = need / need.sum()
        self._day = day

    def interval_m3(self, end_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m3, residents at home, inlet kPa) of every meter for the interval ending at
        ``end_ms``."""
        rng = self.rng
        n = len(self.rows)
        step = self.interval_ms
        start = end_ms - step
        day, slot = divmod(start, DAY_MS)
        slot //= step
        if self._day != day:
            self._start_day(day)
        mid = start + step // 2
        d = mid // DAY_MS
        # in the small hours, someone still out from the evening before is not at home yet
        before = self.plan_for(d - 1) if mid - d * DAY_MS < EARLY_MS else None
        home = self.plan_for(d).home_counts(mid, self.rows, before)
        s = READING_NOISE_SD
        heat = self._heat_kwh * self._heat_shape[slot] * rng.lognormal(-s * s / 2, s, n)
        cook = self._base_kwh * self.cook_shape[slot] * rng.gamma(4.0, 0.25, n) * (home > 0)
        m3 = (heat + cook) / KWH_PER_M3
        per_30 = self.per_30
        town_draw = float(m3.mean()) if n else 0.0  # before any leak: leaks stay local
        for i, lk in self.leaks:
            if lk.t0 <= end_ms and start < lk.t1:
                m3[i] += lk.m3 / per_30
        m3 = np.clip(m3, 0, 100)
        noise = np.random.default_rng((self.p_seed, end_ms // step)).normal(0, 1, n)
        kpa = (
            self.p_site
            - PRESSURE_TOWN_KPA_PER_M3 * town_draw * per_30
            - PRESSURE_LINE_KPA_PER_M3 * m3 * per_30
            + PRESSURE_NOISE_SD_KPA * noise
        )
        return m3, home, np.maximum(kpa, 0.0)

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        step = self.interval_ms
        k = -(-t_start // step)
        pending: list[tuple[int, int, tuple]] = []  # payments due: (t, meter, event)
        while True:
            end = k * step
            if end >= t_end:
                while pending and pending[0][0] < t_end:
                    yield heapq.heappop(pending)[2]
                return
            k += 1
            m3, home, kpa = self.interval_m3(end)
            missed = self.rng.random(len(self.rows)) < MISSED
            self.balance -= m3 * TARIFF_KZT_PER_M3  # the meter measures, sent or not
            for i in np.flatnonzero(self.linked & (self.balance < TOPUP_BELOW_KZT)):
                self.balance[i] += self.topup[i]
                t = end + int(self.offsets[i]) + int(self.pay_lag[i])
                data = {
                    "account": self.accounts[i],
                    "household": self.households[i],
                    "amount_kzt": float(self.topup[i]),
                    "balance_kzt": round(float(self.balance[i]), 2),
                    "method": "auto",
                }
                heapq.heappush(
                    pending, (t, int(i), (t, "payment.gas", "gas-billing", data, None, None))
                )
            # plain Python numbers, taken once per interval rather than per meter
            m3s, kpas, homes, skip = m3.tolist(), kpa.tolist(), home.tolist(), missed.tolist()
            for i, t in enumerate((end + self.offsets).tolist()):
                while pending and pending[0][0] <= t and pending[0][0] < t_end:
                    p = heapq.heappop(pending)[2]
                    if p[0] >= t_start:
                        yield p
                if skip[i] or t < t_start:
                    continue
                if t >= t_end:
                    break
                data = {"m3": round(m3s[i], 3), "interval_min": self.interval_min}
                data["pressure_kpa"] = round(kpas[i], 3)
                data["household"] = self.households[i]
                if self.accounts[i] is not None:
                    data["account"] = self.accounts[i]
                truth = {"occupants_home": homes[i], "residents": self.resident_counts[i]}
                yield t, "gas.reading", self.sources[i], data, self.xy[i], truth
