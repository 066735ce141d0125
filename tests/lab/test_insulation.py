"""The insulation-attendance finding on crafted registers and meters whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from services.events.geo import to_latlon
from services.lab.insulation import insulation_attendance, school_test, true_gap

T0 = 1_768_446_000_000  # 2026-01-15 09:00 in Aqkol
SCHOOL_A, SCHOOL_B = (-1000.0, 0.0), (1000.0, 0.0)


def _registers() -> pd.DataFrame:
    rows = []
    for (x, y), absent in ((SCHOOL_A, [5, 6, 7]), (SCHOOL_B, [2, 3, 4])):
        lat, lon = to_latlon(x, y)
        for a in absent:
            rows.append({"t_ms": T0, "lat": lat, "lon": lon, "enrolled": 30, "absent": a})
    return pd.DataFrame(rows).assign(agg=False)


def _gas() -> pd.DataFrame:
    """Ten poorly insulated homes by school A, twenty good ones by school B, and ten homes by
    A that only cook with gas (which must not count as well insulated)."""
    homes = (
        [(f"hh-a{i}", -1000 + 10 * i, 50.0, 0.6) for i in range(10)]
        + [(f"hh-b{i}", 1000 + 10 * i, 50.0, 0.25 + 0.001 * i) for i in range(20)]
        + [(f"hh-c{i}", -1000 + 10 * i, -50.0, 0.01) for i in range(10)]
    )
    rows = []
    for hh, x, y, m3 in homes:
        lat, lon = to_latlon(x, y)
        for k in range(4):
            rows.append(
                {"household": hh, "t_ms": T0 + k * 1_800_000, "lat": lat, "lon": lon, "m3": m3}
            )
    return pd.DataFrame(rows).assign(agg=False)


def test_gap_measured_where_poorly_insulated_homes_are_but_two_schools_prove_nothing():
    env = pd.DataFrame({"t_ms": [T0], "temperature_c": [-20.0]})
    r = insulation_attendance(_registers(), _gas(), env)
    # school A's heated homes are all poor, B's none: the slope is A's rate minus B's
    assert r["insulation_gap_pp"] == pytest.approx(10.0)
    # classes taken as independent: t = 0.1 / (s / sqrt(1.5)) with s = 1/30 on 4 degrees of
    # freedom: 3.67, one-sided p 0.0107; but the share has two values, one per school
    assert r["insulation_p_naive"] == pytest.approx(0.010656, rel=1e-3)
    assert math.isnan(r["insulation_p"]) and r["insulation_found"] == 0.0
    assert r["insulation_classes"] == 6.0 and r["insulation_schools"] == 2.0


def test_classes_of_three_schools_are_not_independent_evidence():
    """Ten classes a school, three schools: class by class the gap looks overwhelming;
    clustered by school (the regressor's real sample) it is not significant."""
    share = np.repeat([0.0, 0.5, 1.0], 10)
    school = np.repeat(["a", "b", "c"], 10)
    rng = np.random.default_rng(1)
    # school means 10%, 16%, 15%: a gap driven by one school, tight within each school
    y = np.repeat([0.10, 0.16, 0.15], 10) + rng.normal(0, 0.003, 30)
    r = school_test(share, y, school)
    assert r["p_naive"] < 1e-6
    assert r["p"] > 0.05 and r["schools"] == 3.0
    assert r["p_cluster"] < r["p"]  # three clusters: the robust errors are too small
    # a gap that every school follows closely is still found
    y = 0.10 + 0.10 * share + rng.normal(0, 0.003, 30)
    assert school_test(share, y, school)["p"] < 0.05


def test_no_gap_no_finding():
    reg = _registers()
    reg["absent"] = [3, 4, 5, 5, 4, 3]  # the same at both schools
    r = insulation_attendance(reg, _gas())
    assert r["insulation_gap_pp"] == pytest.approx(0.0, abs=1e-9)
    assert r["insulation_found"] == 0.0


def test_the_link_removed_gives_nan():
    gas = _gas()
    for reg, g in (
        (_registers().iloc[:0], gas),  # no registers kept
        (_registers(), gas.assign(agg=True)),  # readings summed per block: no home's heating
        (_registers(), gas.assign(lat=np.nan, lon=np.nan)),  # no place for the homes
        (_registers().drop(columns=["absent"]), gas),  # counts dropped
    ):
        r = insulation_attendance(reg, g)
        assert math.isnan(r["insulation_gap_pp"]) and r["insulation_found"] == 0.0


def test_true_gap_from_the_registers_truth():
    truths = [
        {
            "absent_by_insulation": {"good": 1, "average": 2, "poor": 3},
            "enrolled_by_insulation": {"good": 10, "average": 10, "poor": 10},
        },
        {
            "absent_by_insulation": {"good": 0, "average": 0, "poor": 1},
            "enrolled_by_insulation": {"good": 10, "average": 0, "poor": 10},
        },
    ]
    assert true_gap(truths) == pytest.approx(100 * (4 / 20 - 1 / 20))
    assert math.isnan(true_gap([]))
