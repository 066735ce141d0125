"""The weather series for Aqkol (Akmola climate) and the environment stations' readings.

Temperature = the seasonal mean for the calendar date (Astana as proxy: a smooth annual
cosine from -15.2 C in mid January to +20.9 C in mid July) + a diurnal swing (warmest mid
afternoon) + a slow synoptic anomaly (hourly AR(1)) + occasional winter cold snaps of several
days (deep in January, none in summer: cold nights of about -35 C are possible in winter).
The heating season follows the five-day rule (:meth:`Weather.heating_on`).
Days are generated in order from one random stream, so a longer run extends a shorter one.
A scenario's cold snaps (``snaps``) are added on top without touching the random stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.geography import EnvStation

JANUARY_MEAN_C = -15.2  # Astana, climatological mean of January
JULY_MEAN_C = 20.9  # and of July
ANNUAL_MEAN_C = (JANUARY_MEAN_C + JULY_MEAN_C) / 2
# a month's mean of the cosine is sinc(month / year) = 0.988 of its peak: scaled so the
# January and July means come out at the climatological values
ANNUAL_AMPLITUDE_C = (JULY_MEAN_C - JANUARY_MEAN_C) / 2 / 0.988
COLDEST_DOY = 15.0  # day of the year (0 = 1 January, fractional) of the seasonal minimum
YEAR_DAYS = 365.25
SNAP_MEAN_C = 2.2  # what random snaps take off a winter's mean on average (added back)
HEATING_THRESHOLD_C = 10.0  # heating on after 5 days at or below, off after 5 days above
HEATING_RULE_DAYS = 5
DIURNAL_AMPLITUDE_C = 4.0
WARMEST_HOUR = 14.5
AR_PHI = 0.97
AR_SD = 0.75  # stationary sd ~3 C
SNAP_PROB_PER_DAY = 0.12
ENV_INTERVAL_MS = 5 * MINUTE_MS


def seasonal_mean(doy: np.ndarray | float) -> np.ndarray | float:
    """Climatological mean temperature (C) on day of the year ``doy`` (0 = 1 January)."""
    phase = 2 * np.pi * (np.asarray(doy, dtype=float) - COLDEST_DOY) / YEAR_DAYS
    return ANNUAL_MEAN_C - ANNUAL_AMPLITUDE_C * np.cos(phase)


def winterness(doy: np.ndarray | float) -> np.ndarray | float:
    """1 in mid January, 0 from late spring to early autumn: scales random cold snaps."""
    c = np.cos(2 * np.pi * (np.asarray(doy, dtype=float) - COLDEST_DOY) / YEAR_DAYS)
    return np.maximum(0.0, (c - 0.2) / 0.8)


def diurnal(hour_of_day: np.ndarray | float) -> np.ndarray | float:
    """Diurnal temperature swing at an hour of the day (degrees)."""
    return DIURNAL_AMPLITUDE_C * np.cos(2 * np.pi * (np.asarray(hour_of_day) - WARMEST_HOUR) / 24)


class Weather:
    """Town-wide air temperature and humidity, generated lazily day by day."""

    def __init__(
        self,
        rng: np.random.Generator,
        offset_c: float = 0.0,
        snaps: tuple[tuple[int, int, float], ...] = (),
        start_doy: float = 0.0,
    ):
        """``start_doy``: day of the year of simulated day 0 (0 = 1 January)."""
        self._rng = rng
        self.start_doy = float(start_doy)
        self._heating: dict[int, bool] = {}
        self.offset_c = offset_c
        # scenario cold snaps: (start_ms, end_ms, depth_c), ramped in and out over 6 hours
        self.snaps = tuple(snaps)
        self._hourly: list[float] = []  # synoptic anomaly + snaps, one value per hour from day 0
        self._humid: list[float] = []
        self._ar = float(rng.normal(0, AR_SD / math.sqrt(1 - AR_PHI**2)))
        self._initial_anomaly = self._ar
        self._daily: dict[int, float] = {}
        self._snap_left_h = 0
        self._snap_len_h = 0
        self._snap_depth = 0.0

    def _extend(self, hours: int) -> None:
        rng = self._rng
        while len(self._hourly) < hours:  # one whole day at a time
            if self._snap_left_h <= 0 and rng.random() < SNAP_PROB_PER_DAY:
                self._snap_len_h = int(rng.integers(36, 97))
                self._snap_left_h = self._snap_len_h
                day = len(self._hourly) // 24
                winter = float(winterness(self.start_doy + day))
                self._snap_depth = float(rng.uniform(8, 14)) * winter
            noise = rng.normal(0, AR_SD, size=24)
            hum = rng.normal(0, 4, size=24)
            for h in range(24):
                self._ar = AR_PHI * self._ar + float(noise[h])
                snap = 0.0
                if self._snap_left_h > 0:
                    done = self._snap_len_h - self._snap_left_h
                    # smooth bump: ramp in and out over ~12 hours
                    ramp = min(1.0, done / 12, self._snap_left_h / 12)
                    snap = -self._snap_depth * ramp
                    self._snap_left_h -= 1
                self._hourly.append(self._ar + snap)
                self._humid.append(float(hum[h]))

    def temperature(self, t_ms: np.ndarray | float) -> np.ndarray:
        """Air temperature (C) at simulated time(s), interpolated between hours."""
        t = np.asarray(t_ms, dtype=float)
        hours = t / HOUR_MS
        self._extend(int(np.max(hours)) + 2)
        base = np.interp(hours, np.arange(len(self._hourly)), self._hourly)
        doy = self.start_doy + hours / 24
        season = seasonal_mean(doy) + SNAP_MEAN_C * winterness(doy)
        out = season + self.offset_c + base + diurnal(hours % 24)
        for t0, t1, depth in self.snaps:
            ramp = np.clip(np.minimum(t - t0, t1 - t) / (6 * HOUR_MS), 0, 1)
            out = out - depth * ramp
        return out

    def humidity(self, t_ms: float) -> float:
        hours = t_ms / HOUR_MS
        self._extend(int(hours) + 2)
        # winter air is moist relative to its low saturation point; wetter at night
        rh = (
            80
            - 1.5 * float(diurnal(hours % 24))
            + float(np.interp(hours, np.arange(len(self._humid)), self._humid))
        )
        return min(100.0, max(35.0, rh))

    def daily_mean(self, day: int) -> float:
        """Mean of the 24 hourly temperatures of simulated day ``day``.

        Days before the first simulated day (``day < 0``, needed for the BDEW temperature
        and the heating season) are taken at the seasonal mean of their date plus the run's
        offset and its initial anomaly.
        """
        if day < 0:
            season = float(seasonal_mean(self.start_doy + day + 0.5))
            return season + self.offset_c + self._initial_anomaly
        if day not in self._daily:
            hours = day * DAY_MS + np.arange(24) * HOUR_MS
            self._daily[day] = float(np.mean(self.temperature(hours)))
        return self._daily[day]

    def heating_on(self, day: int) -> bool:
        """Whether the heating season is on during simulated day ``day``.

        Five-day rule on the daily means of the five days before: it switches on when all
        five were at or below +10 C and off when all five were above. The state before the
        first day is that of the day before it (on if at or below +10 C).
        """
        if day < 0:
            return self.daily_mean(-1) <= HEATING_THRESHOLD_C
        if day in self._heating:
            return self._heating[day]
        d = len(self._heating)  # days 0 .. d-1 are known
        state = self._heating[d - 1] if d else self.daily_mean(-1) <= HEATING_THRESHOLD_C
        while d <= day:
            means = [self.daily_mean(d - i) for i in range(1, HEATING_RULE_DAYS + 1)]
            if not state and all(m <= HEATING_THRESHOLD_C for m in means):
                state = True
            elif state and all(m > HEATING_THRESHOLD_C for m in means):
                state = False
            self._heating[d] = state
            d += 1
        return self._heating[day]

    def t_eff(self, day: int) -> float:
        """BDEW four-day weighted temperature: (T + 0.5 T-1 + 0.25 T-2 + 0.125 T-3) / 1.875."""
        w = (1.0, 0.5, 0.25, 0.125)
        return sum(wi * self.daily_mean(day - i) for i, wi in enumerate(w)) / 1.875


def heating_smoke(hour: float) -> float:
    """Relative emission of household stoves and boilers by hour (evening peak)."""
    if 17 <= hour < 23:
        return 1.0
    if 6 <= hour < 9:
        return 0.6
    if hour >= 23 or hour < 6:
        return 0.45
    return 0.3


def traffic(hour: float) -> float:
    """Relative road traffic by hour (rush hours at 8 and 18)."""
    return float(
        0.08
        + 0.9 * math.exp(-(((hour - 8.2) / 1.0) ** 2))
        + 0.8 * math.exp(-(((hour - 18.0) / 1.3) ** 2))
        + 0.45 * (9.5 <= hour < 17)
    )


@dataclass
class EnvStations:
    """Every station reports every 5 minutes (the reading describes the past 5 minutes)."""

    stations: list[EnvStation]
    weather: Weather
    rng: np.random.Generator

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        rng = self.rng
        n = len(self.stations)
        offsets = (np.arange(n) * 1373) % 4000  # each station's upload lag, ms
        bias = rng.normal(0, 0.4, size=n)  # sensor calibration offsets
        lake = np.array([s.x > 1200 for s in self.stations])
        order = [int(i) for i in np.argsort(offsets, kind="stable")]
        k = -(-t_start // ENV_INTERVAL_MS)
        while True:
            tick = k * ENV_INTERVAL_MS
            if tick >= t_end:
                return
            k += 1
            hour = (tick % DAY_MS) / HOUR_MS
            temp = float(self.weather.temperature(tick))
            noise = rng.normal(0, 1, size=(n, 4))
            rh_town = self.weather.humidity(tick)
            cold = max(0.0, -temp - 5) / 15  # inversions trap smoke on cold nights
            for i in order:
                st = self.stations[i]
                t = tick + int(offsets[i])
                if t >= t_end:
                    continue
                tc = temp + bias[i] + 0.15 * noise[i, 0] + (0.8 if lake[i] else 0.0)
                rh = min(100.0, max(0.0, rh_town + 3 * noise[i, 1] + (6 if lake[i] else 0)))
                pm = 6 + st.smoke * heating_smoke(hour) * (25 + 55 * cold)
                pm = max(1.0, pm * math.exp(0.18 * noise[i, 2]))
                db = 34 + 30 * st.traffic * min(1.0, traffic(hour)) + 2.0 * noise[i, 3]
                data = {
                    "temperature_c": round(float(tc), 1),
                    "humidity_pct": round(float(rh), 1),
                    "pm25_ugm3": round(float(pm), 1),
                    "noise_dba": round(max(20.0, float(db)), 1),
                }
                yield t, "env.reading", st.id, data, (st.x, st.y), None
