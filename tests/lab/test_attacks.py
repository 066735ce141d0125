"""Each attack on a tiny crafted dataset whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from services.lab.attacks import unicity as uni
from services.lab.attacks.homework import anonymity_sets, home_work
from services.lab.attacks.linkage import linkage
from services.lab.attacks.occupancy import occupancy, scores
from services.lab.attacks.tracking import tracking
from services.lab.attacks.trajectory import accuracy, counts_of, recover, trajectory_attack
from services.lab.noise import release


def test_unicity_crafted():
    # units 0 and 1 share both points; unit 2 alone holds its two
    unit = np.array([0, 0, 1, 1, 2, 2])
    key = np.array([1, 2, 1, 2, 3, 4])
    for p in (1, 2):
        for seed in range(5):  # whichever points are drawn, the answer is the same
            r = uni.unicity(unit, key, p, seed=seed)
            assert r["eligible"] == 3
            assert r["unique"] == 1
            assert r["unicity"] == pytest.approx(1 / 3)
    r = uni.unicity(unit, key, 3)
    assert r["eligible"] == 0 and math.isnan(r["unicity"])
    assert uni.unicity(unit[:0], key[:0], 1)["unicity"] == 0.0  # no traces: nobody found


def test_unicity_subsets_and_duplicates():
    # unit 0 = {1}, unit 1 = {1, 2}: one point of unit 1 is 2 (unique) or 1 (not)
    unit = np.array([0, 0, 1, 1, 1])  # a repeated point counts once
    key = np.array([1, 1, 1, 2, 2])
    r = uni.unicity(unit, key, 2)
    assert r["eligible"] == 1 and r["unique"] == 1  # {1, 2} is unit 1's alone
    r = uni.unicity(unit, key, 1)
    assert r["eligible"] == 2
    assert r["unique"] in (0, 1)  # unit 0's point 1 is shared; unit 1 depends on the draw
    hits = [uni.unicity(unit, key, 1, seed=s)["unique"] for s in range(40)]
    assert 0 < sum(hits) < 40  # both draws happen


def test_unicity_chunks_agree(monkeypatch):
    rng = np.random.default_rng(3)
    unit = rng.integers(0, 300, 6000)
    key = uni.point_keys(rng.integers(0, 20, 6000), rng.integers(0, 24, 6000))
    whole = [uni.unicity(unit, key, p, seed=1) for p in (1, 2, 4)]
    monkeypatch.setattr(uni, "MAX_CANDIDATES", 50)
    chunked = [uni.unicity(unit, key, p, seed=1) for p in (1, 2, 4)]
    assert whole == chunked
    assert whole[0]["unicity"] < whole[1]["unicity"] < whole[2]["unicity"]


def test_unicity_bitmap_and_binary_search_agree(monkeypatch):
    """Membership by bitmap (where it fits) and by binary search give the same answer."""
    rng = np.random.default_rng(5)
    unit = rng.integers(0, 400, 8000)
    key = uni.point_keys(rng.integers(0, 30, 8000), rng.integers(0, 24, 8000))
    bitmap = [uni.unicity(unit, key, p, seed=2) for p in (1, 2, 4, 8)]
    probe = np.array([3, 4, 700, 701, 10**9])
    want = [True, False, True, False, False]
    member = uni._Pairs(np.array([3, 9, 700]))
    assert member.bits is not None and member.contains(probe).tolist() == want
    monkeypatch.setattr(uni, "MAX_BITMAP_BYTES", 0)
    member = uni._Pairs(np.array([3, 9, 700]))
    assert member.bits is None and member.contains(probe).tolist() == want
    assert [uni.unicity(unit, key, p, seed=2) for p in (1, 2, 4, 8)] == bitmap


def test_unicity_brute_force_agrees_with_p_equal_trace_size():
    # with p = the trace size, a unit is unique iff no other trace contains all of it
    rng = np.random.default_rng(7)
    traces = {u: set(rng.choice(6, size=3, replace=False).tolist()) for u in range(40)}
    unit = np.array([u for u, s in traces.items() for _ in s])
    key = np.array([k for s in traces.values() for k in s])
    want = sum(1 for u, s in traces.items() if not any(s <= t for v, t in traces.items() if v != u))
    assert uni.unicity(unit, key, 3)["unique"] == want


def test_tracking_counts_people_with_enough_places():
    traces = pd.DataFrame(
        {
            "unit": [0, 0, 0, 1, 1, 2, 2, 2],
            "person": ["a", "a", "a", "b", "b", "c", "c", "c"],
            "loc": [1, 2, 3, 1, 2, 5, 5, 5],
        }
    )
    r = tracking(traces, residents=10, min_places=3)
    assert r["followed"] == pytest.approx(0.1)  # only a went to three places
    assert tracking(traces.iloc[:0], residents=10)["followed"] == 0.0


def test_linkage_counts_true_clear_links_only():
    households = pd.DataFrame(
        {
            "id": ["hh-1", "hh-2", "hh-3"],
            "account": ["acc-1", "acc-2", None],
            "residents": [1, 3, 2],
        }
    )
    pays = pd.DataFrame({"account": ["acc-1", "ps-x"], "household": ["hh-1", "ps-y"]})
    gas = pd.DataFrame({"account": ["acc-1", "acc-9"], "household": ["hh-1", "hh-2"]})
    r = linkage([pays, gas], households)
    assert r["accounts_linked"] == pytest.approx(0.5)  # acc-1 of 2 linked accounts
    assert r["persons_pinned"] == pytest.approx(0.5)  # hh-1 has one resident
    assert r["residents_linked"] == pytest.approx(1 / 6)
    assert r["pseudonymous_links"] == 2  # the pseudonym pair and the wrong pair
    nothing = linkage([pd.DataFrame({"m3": [1.0]})], households)
    assert nothing["accounts_linked"] == 0.0


def test_home_work_guesses_and_anonymity_sets():
    home = pd.Series({"a": "H1", "b": "H1", "c": "H2"})
    work = pd.Series({"a": "W1", "b": "W1", "c": "W2"})
    sets = anonymity_sets(home, work)
    assert sets.to_dict() == {"a": 2, "b": 2, "c": 1}
    h = 3_600_000
    day = 1_767_207_600_000  # 2026-01-01 00:00 in Aqkol (UTC+6)
    traces = pd.DataFrame(
        {
            "unit": [0, 0, 0, 1, 1],
            "person": ["c", "c", "c", "a", "a"],
            "camera": ["h2", "w2", "w2", "x", "w1"],
            "t_ms": [day + 7 * h, day + 10 * h, day + 11 * h, day + 7 * h, day + 12 * h],
        }
    )
    cells = {"h2": "H2", "w2": "W2", "x": "X", "w1": "W1"}
    r = home_work(traces, cells, home, work)
    assert r["home_inferred"] == pytest.approx(1 / 3)  # c right, a wrong, b unseen
    assert r["work_inferred"] == pytest.approx(2 / 3)
    assert r["pair_inferred"] == pytest.approx(1 / 3)
    assert r["identified"] == pytest.approx(1 / 3)  # c: right pair, alone in it
    assert r["anonymity_median"] == 2.0


def test_occupancy_finds_cooking_and_scores():
    t = np.arange(24) * 1_800_000
    present = np.zeros(24, bool)
    present[8:14] = True
    m3 = np.full(24, 0.10)
    m3[[9, 12]] += 0.2  # cooking while home
    readings = pd.DataFrame({"series": "s", "meter": "gas-1", "t_ms": t, "m3": m3, "agg": False})
    truth = pd.Series(present, index=pd.MultiIndex.from_arrays([["gas-1"] * 24, t]))
    r = occupancy(readings, truth, window=3)  # cooking at 9 and 12: home 8-13
    assert r["accuracy"] == pytest.approx(1.0)
    assert r["f1"] == pytest.approx(1.0)
    assert r["lift"] == pytest.approx(1 / 0.75)
    agg = occupancy(readings.assign(agg=True), truth)
    assert agg["applicable"] == 0.0 and agg["lift"] == pytest.approx(1.0)
    s = scores(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    assert s["accuracy"] == 0.75 and s["f1"] == pytest.approx(2 / 3)
    assert s["f1_absent"] == pytest.approx(0.8)  # tn 2, fp 1, fn 0


def test_trajectory_recovery_from_counts():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0], [1010.0, 0.0]])
    # two people far apart, each moving one step along: counts give them away
    true = np.array([[0, 1, 1, 0], [2, 3, 2, 3]])
    assert counts_of(true, 4).sum() == 8
    rec = recover(counts_of(true, 4), xy)
    assert accuracy(true, rec)["accuracy"] == 1.0
    # k-suppression at 2 removes every cell (each holds one person): nothing recovered
    r = trajectory_attack(true, xy, lambda c: np.nan_to_num(release(c, k_min=2)))
    assert r["accuracy"] == 0.0


def test_occupancy_rolling_in_one_pass_is_the_grouped_rolling():
    """The analyst's rolling baseline and nearness, computed over all series at once, give
    what pandas' grouped rolling gives (the code before it was made one pass)."""
    from services.lab.attacks.occupancy import predict

    def grouped(readings, window=6, min_excess=0.02, baseline=12):
        r = readings.sort_values(["series", "t_ms"])
        by = r.groupby("series", sort=False)
        base = by["m3"].rolling(baseline, center=True, min_periods=1).min()
        base = base.reset_index(level=0, drop=True).reindex(r.index)
        active = ((r["m3"] - base) > min_excess).astype(float)
        near = active.groupby(r["series"], sort=False).rolling(window, center=True, min_periods=1)
        near = near.max().reset_index(level=0, drop=True).reindex(r.index)
        return (near > 0).reindex(readings.index)

    rng = np.random.default_rng(7)
    n = 5000
    df = pd.DataFrame(
        {
            "series": [f"ps-{i}" for i in rng.integers(0, 300, n)],  # some of 1-3 readings
            "t_ms": rng.permutation(n) * 1_800_000,
            "m3": rng.exponential(0.03, n).round(3),
        }
    ).sample(frac=1, random_state=1)
    assert predict(df).equals(grouped(df))
    for w, b in ((1, 1), (3, 5), (7, 2)):
        assert predict(df, window=w, baseline=b).equals(grouped(df, window=w, baseline=b))
