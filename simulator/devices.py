"""Municipal devices: warm bus stops (every 5 min), streetlights and solar panels (15 min).

- Sun: elevation from the date and time at Aqkol (52.0 N, 70.9 E, UTC+6), so lights and
  panels follow the short January day (sunrise about 09:15, sunset about 17:35).
- Streetlights: one controller per lamp group along the streets; on when the sun is below
  1 degree of elevation, dimmed to 50 % from 00:00 to 05:30; a few lamps fail over time,
  and now and then a controller reports a fault.
- Solar: rooftop installations on municipal buildings; output from a clear-sky irradiance,
  a daily cloudiness and snow on the panels.
- Warm bus stops: a heated cabin at each stop; the heater holds about +8 C, the door opens
  with the passers-by (more in the rush hours), some of whom wait inside.

All from one random stream, so these devices change nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np

from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS, Clock
from simulator.geography import MAIN_X, MAIN_Y, TownMap, grid_xs, grid_ys
from simulator.weather import Weather, traffic

LAT_DEG, LON_DEG, UTC_OFFSET_H = 52.0, 70.9, 6
STOP_INTERVAL_MS = 5 * MINUTE_MS
SLOW_INTERVAL_MS = 15 * MINUTE_MS
LAMP_W = 90.0
SOLAR_SITES = (("akimat", 20.0), ("hospital", 15.0), ("school-1", 10.0), ("school-2", 10.0))


def sun_elevation(when: datetime) -> float:
    """Solar elevation (degrees) at Aqkol at an aware datetime (NOAA-style approximation)."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hour - 12) / 24)
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
    )
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    solar_min = hour * 60 + eqtime + 4 * LON_DEG - 60 * UTC_OFFSET_H
    ha = math.radians(solar_min / 4 - 180)
    lat = math.radians(LAT_DEG)
    s = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(ha)
    return math.degrees(math.asin(max(-1.0, min(1.0, s))))


def clear_sky_wm2(elevation_deg: float) -> float:
    """Global irradiance on the panels under a clear sky (W/m2), simple air-mass model."""
    if elevation_deg <= 0:
        return 0.0
    s = math.sin(math.radians(elevation_deg))
    return 1353 * s * 0.7 ** ((1 / s) ** 0.678) * 1.6  # tilted panels catch the low sun


class Devices:
    def __init__(self, town: TownMap, weather: Weather, clock: Clock, rng: np.random.Generator):
        self.town, self.weather, self.clock, self.rng = town, weather, clock, rng
        self.stops = town.stops
        # streetlight controllers: every intersection on the two main streets, then a sample
        xs, ys = grid_xs(), grid_ys()
        pts = [(float(x), MAIN_Y) for x in xs] + [(MAIN_X, float(y)) for y in ys if y != MAIN_Y]
        self.lights = [(f"light-{k + 1:03d}", x, y) for k, (x, y) in enumerate(pts)]
        n = len(self.lights)
        self.lamps = rng.integers(12, 31, size=n)
        self.failed = rng.binomial(self.lamps, 0.03)
        self.solar = [(town.place(p), float(cap)) for p, cap in SOLAR_SITES]
        self.stop_heat = rng.uniform(7.0, 9.5, size=len(self.stops))  # thermostat settings
        self._day: int | None = None
        self._cloud = np.ones(len(self.solar))
        self._snow = np.ones(len(self.solar))

    def _new_day(self, day: int) -> None:
        self._cloud = self.rng.uniform(0.25, 1.0, len(self.solar))  # share of clear sky
        self._snow = np.where(self.rng.random(len(self.solar)) < 0.2, 0.15, 1.0)  # snow on panels
        self.failed = np.minimum(self.lamps, self.failed + self.rng.binomial(self.lamps, 0.002))
        self._day = day

    def stream(self, t_start: int, t_end: int) -> Iterator[tuple]:
        """(t_ms, kind, source, data, (x, y), truth) in time order within [t_start, t_end)."""
        rng = self.rng
        k = -(-t_start // STOP_INTERVAL_MS)
        while True:
            tick = k * STOP_INTERVAL_MS
            if tick >= t_end:
                return
            k += 1
            day = tick // DAY_MS
            if self._day != day:
                self._new_day(day)
            hour = (tick % DAY_MS) / HOUR_MS
            outside = float(self.weather.temperature(tick))
            out: list[tuple] = []
            flow = traffic(hour)
            opens = rng.poisson(6 * flow, size=len(self.stops))
            waiting = rng.binomial(opens, 0.35)
            noise = rng.normal(0, 0.4, size=len(self.stops))
            for i, s in enumerate(self.stops):
                heater = outside < self.stop_heat[i] - 2
                inside = self.stop_heat[i] if heater else outside + 2
                inside -= 0.15 * opens[i] * max(0.0, inside - outside) / 10  # the door lets cold in
                data = {
                    "temperature_c": round(float(inside) + float(noise[i]), 1),
                    "heater_on": bool(heater),
                    "people_waiting": int(waiting[i]),
                    "door_opens": int(opens[i]),
                }
                out.append((tick + 700 + 37 * i, "stop.status", s.id, data, (s.x, s.y), None))
            if tick % SLOW_INTERVAL_MS == 0:
                elev = sun_elevation(self.clock.dt(tick))
                dark = elev < 1.0
                dim = 50 if (hour < 5.5) else 100
                fault = rng.random(len(self.lights)) < 0.002
                for i, (lid, x, y) in enumerate(self.lights):
                    working = int(self.lamps[i] - self.failed[i])
                    state = "fault" if fault[i] else ("on" if dark else "off")
                    power = working * LAMP_W * dim / 100 if state == "on" else 0.0
                    data = {
                        "state": state,
                        "dim_pct": dim if state == "on" else 0,
                        "lamps": int(self.lamps[i]),
                        "lamps_failed": int(self.failed[i]),
                        "power_w": round(power * float(rng.uniform(0.98, 1.02)), 1),
                    }
                    t = tick + 1500 + 53 * i
                    out.append((t, "streetlight.status", lid, data, (x, y), None))
                g = clear_sky_wm2(elev)
                g_prev = clear_sky_wm2(sun_elevation(self.clock.dt(tick - SLOW_INTERVAL_MS)))
                for i, (place, cap) in enumerate(self.solar):
                    f = self._cloud[i] * self._snow[i] * float(rng.uniform(0.9, 1.0))
                    p_now = cap * 1000 * g / 1000 * f
                    p_prev = cap * 1000 * g_prev / 1000 * f
                    data = {
                        "power_w": round(float(p_now), 1),
                        "energy_wh": round(float(p_now + p_prev) / 2 * 0.25, 1),
                        "capacity_kw": cap,
                    }
                    src = f"solar-{place.id}"
                    t = tick + 2500 + 71 * i
                    out.append((t, "solar.output", src, data, (place.x, place.y), None))
            out.sort(key=lambda e: e[0])
            for e in out:
                if t_start <= e[0] < t_end:
                    yield e
