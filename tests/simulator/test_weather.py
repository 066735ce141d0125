"""Seasons: the Akmola annual cycle, winter cold snaps and the five-day heating-season rule."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np

from simulator.clock import AQKOL_TZ, HOUR_MS
from simulator.gas import BASE_KWH_PER_PERSON, KWH_PER_M3, heating_k
from simulator.model import Town
from simulator.weather import (
    HEATING_THRESHOLD_C,
    JANUARY_MEAN_C,
    JULY_MEAN_C,
    Weather,
    seasonal_mean,
)

SEEDS = range(4)


def _year(seed: int, start_doy: float = 0.0) -> list[float]:
    w = Weather(np.random.default_rng(seed), start_doy=start_doy)
    return [w.daily_mean(d) for d in range(365)]


def test_january_and_july_means_follow_the_astana_climate() -> None:
    years = [_year(s) for s in SEEDS]  # day 0 = 1 January
    january = float(np.mean([np.mean(y[0:31]) for y in years]))
    july = float(np.mean([np.mean(y[181:212]) for y in years]))
    assert abs(january - JANUARY_MEAN_C) < 1.5, january
    assert abs(july - JULY_MEAN_C) < 1.5, july
    # a smooth cycle: coldest in winter, warmest in summer, spring and autumn in between
    assert seasonal_mean(15) < seasonal_mean(105) < seasonal_mean(196)
    assert seasonal_mean(196) > seasonal_mean(288) > seasonal_mean(15)


def test_cold_snaps_happen_in_winter_only() -> None:
    lows, summer_lows = [], []
    for seed in SEEDS:
        w = Weather(np.random.default_rng(seed))
        winter = w.temperature(np.arange(0, 59 * 24) * HOUR_MS)  # January, February
        summer = w.temperature(np.arange(152 * 24, 243 * 24) * HOUR_MS)  # June-August
        lows.append(float(winter.min()))
        summer_lows.append(float(summer.min()))
    assert min(lows) < -30  # cold snaps to about -35 C
    assert min(lows) > -45
    assert min(summer_lows) > 0


def test_same_seed_same_year() -> None:
    assert _year(3, 100.0) == _year(3, 100.0)


def test_heating_season_follows_the_five_day_rule() -> None:
    for seed in SEEDS:
        w = Weather(np.random.default_rng(seed))  # 1 January
        on = [w.heating_on(d) for d in range(365)]
        assert on[0] and on[15] and on[350]  # winter
        assert not any(on[182:230])  # July, August
        switches = [d for d in range(1, 365) if on[d] != on[d - 1]]
        assert switches, "no spring switch-off"
        means = [w.daily_mean(d) for d in range(365)]
        for d in range(5, 365):
            prev5 = means[d - 5 : d]
            if on[d - 1] is False and all(m <= HEATING_THRESHOLD_C for m in prev5):
                assert on[d]
            elif on[d - 1] and all(m > HEATING_THRESHOLD_C for m in prev5):
                assert not on[d]
            else:
                assert on[d] == on[d - 1], d


class _Scripted(Weather):
    """Weather whose daily means are given."""

    def __init__(self, means: list[float]):
        super().__init__(np.random.default_rng(0))
        self.means = means

    def daily_mean(self, day: int) -> float:
        return self.means[max(day, -1) + 1]


def test_heating_switches_only_after_five_days() -> None:
    # day -1 is warm: off at the start; four cold days are not enough, five are
    means = [15.0] + [5.0] * 4 + [12.0] + [5.0] * 5 + [9.0] * 3 + [11.0] * 4 + [8.0] + [11.0] * 6
    w = _Scripted(means)
    on = [w.heating_on(d) for d in range(len(means) - 1)]  # means[0] is day -1
    # day d looks at days d-5 .. d-1, i.e. means[d-4 : d+1]
    assert on[:10] == [False] * 10
    assert on[10] is True  # days 5-9 were all <= 10
    assert all(on[10:23])  # four warm days (13-16), then a cold one: stays on
    assert on[23] is False  # five warm days (18-22): off
    w = _Scripted([12.0] * 7 + [11.0] * 2)
    assert not any(w.heating_on(d) for d in range(8))


def test_july_gas_is_base_load_only() -> None:
    town = Town(
        seed=2,
        start=datetime(2026, 7, 15, tzinfo=AQKOL_TZ),
        population_scale=0.15,
        kinds={"gas.reading"},
    )
    assert not town.weather.heating_on(0)
    hh = town.map.households
    row = {hh.id(r): r for r in range(len(hh.x))}
    kwh: dict[str, float] = defaultdict(float)
    for e in town.events(24):
        kwh[e["data"]["household"]] += e["data"]["m3"] * KWH_PER_M3
    boiler = [h for h in kwh if hh.heating[row[h]] == 0]
    assert len(boiler) > 100
    per_person = np.array([kwh[h] / hh.residents[row[h]] for h in boiler])
    k = heating_k(hh)[[row[h] for h in boiler]]
    # hot water and cooking only (less when nobody is home): no heating, whatever the house
    assert per_person.mean() < 1.05 * BASE_KWH_PER_PERSON["boiler"]
    assert abs(np.corrcoef(per_person, k)[0, 1]) < 0.2
