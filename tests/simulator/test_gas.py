"""Gas demand follows the BDEW temperature with the configured slope per insulation class."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
import orjson
import pytest

from simulator.clock import AQKOL_TZ, DAY_MS
from simulator.gas import (
    HEATING_BASE_C,
    INSULATION_CLASSES,
    INTERVAL_MS,
    K_RANGE_KWH,
    KWH_PER_M3,
    heating_k,
    household_truth,
    insulation_class,
)
from simulator.geography import build_town
from simulator.model import Town

START = datetime(2026, 1, 12, tzinfo=AQKOL_TZ)  # local midnight
DAYS = 2


def _bdew(town: Town, day: int) -> float:
    t = [town.weather.daily_mean(day - i) for i in range(4)]
    return (t[0] + 0.5 * t[1] + 0.25 * t[2] + 0.125 * t[3]) / 1.875


def _daily_kwh(offset_c: float) -> list[tuple[str, float, float]]:
    """(household, degree-days, kWh) per gas household and whole simulated day."""
    town = Town(
        seed=21,
        start=START,
        population_scale=0.15,
        kinds={"gas.reading"},
        temperature_offset_c=offset_c,
    )
    epoch_ms = town.clock.unix_ms(0)
    daily: dict[tuple[str, int], float] = defaultdict(float)
    for e in town.events(24 * DAYS + 0.1):  # the last interval reports just after midnight
        t = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000) - epoch_ms
        interval_start = t // INTERVAL_MS * INTERVAL_MS - INTERVAL_MS  # uploads lag < 3 min
        daily[(e["data"]["household"], interval_start // DAY_MS)] += e["data"]["m3"]
    out = []
    for (hh, day), m3 in daily.items():
        if 0 <= day < DAYS:
            assert town.weather.t_eff(day) == pytest.approx(_bdew(town, day))
            out.append((hh, max(0.0, HEATING_BASE_C - _bdew(town, day)), m3 * KWH_PER_M3))
    return out


def test_daily_gas_slope_against_t_eff_recovers_k_per_insulation_class() -> None:
    hh = build_town().households
    cls, k = insulation_class(hh), heating_k(hh)
    rows = _daily_kwh(0.0) + _daily_kwh(-12.0)  # the same households, two climates
    by_class: dict[int, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    for h, dd, kwh in rows:
        r = int(h[3:]) - 1
        if hh.heating[r] == 0:  # gas boiler: heating on the meter
            by_class[int(cls[r])].setdefault(h, []).append((dd, kwh))
    for c, name in enumerate(INSULATION_CLASSES):
        homes = by_class[c]
        assert len(homes) >= 20, name
        # within-household regression (the base load differs between households)
        xs, ys = [], []
        for obs in homes.values():
            a = np.array(obs)
            xs.append(a[:, 0] - a[:, 0].mean())
            ys.append(a[:, 1] - a[:, 1].mean())
        x, y = np.concatenate(xs), np.concatenate(ys)
        slope = float((x * y).sum() / (x * x).sum())
        configured = float(np.mean([k[int(h[3:]) - 1] for h in homes]))
        lo, hi = K_RANGE_KWH[name]
        assert lo <= configured <= hi
        assert slope == pytest.approx(configured, rel=0.06), name
    # flats and coal-heated houses: cooking only, no temperature slope to speak of
    other = [(dd, kwh) for h, dd, kwh in rows if hh.heating[int(h[3:]) - 1] != 0]
    assert np.mean([kwh for _, kwh in other]) < 10


def test_household_truth_is_kept_out_of_events() -> None:
    hh = build_town().households
    truth = household_truth(hh, np.arange(len(hh)))
    classes = {t["insulation_class"] for t in truth}
    assert classes == set(INSULATION_CLASSES)
    assert all(t["gas_meter"] == (t["fuel"] == "gas") for t in truth)
    assert all(t["k_kwh_per_degree_day"] == 0 for t in truth if t["heating"] != "gas")
    share = {c: np.mean([t["insulation_class"] == c for t in truth if t["dwelling"] == "house"])
             for c in INSULATION_CLASSES}  # fmt: skip
    assert all(0.1 < s < 0.7 for s in share.values())
    events = list(Town(seed=2, population_scale=0.05, kinds={"gas.reading"}).events(1.0))
    assert events and all(
        set(e["data"]) <= {"m3", "interval_min", "household", "account", "pressure_kpa"}
        for e in events
    )


def test_readings_carry_inlet_pressure_that_sags_with_the_flow() -> None:
    from services.events import decode, topic_for
    from simulator.gas import PRESSURE_NOMINAL_KPA

    def readings(offset_c: float) -> list[dict]:
        town = Town(
            seed=6,
            start=START,
            population_scale=0.1,
            kinds={"gas.reading"},
            temperature_offset_c=offset_c,
        )
        return list(town.events(6))

    normal, colder = readings(0.0), readings(-12.0)
    for e in normal:
        event = decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        assert event.data.pressure_kpa == e["data"]["pressure_kpa"]
        assert 0.5 * PRESSURE_NOMINAL_KPA < e["data"]["pressure_kpa"] < 1.2 * PRESSURE_NOMINAL_KPA
    kpa = np.array([e["data"]["pressure_kpa"] for e in normal])
    m3 = np.array([e["data"]["m3"] for e in normal])
    assert np.corrcoef(kpa, m3)[0, 1] < -0.3  # a meter's own flow lowers its inlet pressure
    # a colder day: the whole town draws more and the network pressure sags
    assert np.mean([e["data"]["pressure_kpa"] for e in colder]) < kpa.mean() - 0.02


def test_linked_accounts_top_up_prepaid_meters_automatically() -> None:
    from services.events import decode, topic_for
    from simulator.gas import TOPUP_BELOW_KZT, TOPUP_KZT

    town = Town(seed=4, kinds={"gas.reading", "payment.gas"})
    events = list(town.events(24))
    hh = town.map.households
    payments = [e for e in events if e["kind"] == "payment.gas"]
    assert len(payments) > 10  # a gas-heated house tops up about monthly
    last_reading: dict[str, datetime] = {}
    for e in events:
        ts = datetime.fromisoformat(e["ts"])
        d = e["data"]
        if e["kind"] == "gas.reading":
            last_reading[d["household"]] = ts
            continue
        decode(orjson.dumps(e), topic_for(e["kind"], e["source"]))
        r = int(d["household"][3:]) - 1
        assert d["account"] == hh.account[r] is not None  # only linked accounts pay
        topup = TOPUP_KZT["boiler" if hh.heating[r] == 0 else "cooking"]
        assert d["amount_kzt"] == topup and d["method"] == "auto"
        assert TOPUP_BELOW_KZT - topup <= d["balance_kzt"] - topup < TOPUP_BELOW_KZT
        # the bank pays a few minutes after the reading that took the balance too low
        assert 0 < (ts - last_reading[d["household"]]).total_seconds() <= 300
    # the houses that heat with gas pay far more often than flats that only cook
    heated = sum(hh.heating[int(p["data"]["household"][3:]) - 1] == 0 for p in payments)
    assert heated > 0.8 * len(payments)
