"""Release protection: the DP noise distribution, and k-anonymity checked with pycanon."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pycanon import anonymity

from services.lab.noise import discrete_laplace, laplace_scale, release, variance
from services.policy.release import _measurement

N = 20_000


def _within(sample: np.ndarray, scale: float) -> None:
    # 6 standard errors: a bound a correct sampler cannot realistically cross
    var = variance(scale)
    assert abs(sample.mean()) < 6 * math.sqrt(var / N)
    # the sample variance's standard error for a Laplace-like law is about var * sqrt(5 / N)
    assert abs(sample.var() - var) < 6 * var * math.sqrt(5 / N)


def test_opendp_laplace_has_mean_zero_and_the_variance_of_its_scale():
    scale = laplace_scale(0.5)
    assert scale == 2.0  # OpenDP's privacy map: scale = sensitivity / epsilon
    noisy = np.array(_measurement(0.5)([0] * N))  # the mechanism the API serves
    _within(noisy, scale)


def test_lab_sampler_matches_the_opendp_distribution_and_is_seeded():
    for eps in (0.5, 1.0):
        s = discrete_laplace(np.random.default_rng(1), laplace_scale(eps), N)
        _within(s.astype(float), laplace_scale(eps))
        assert s.dtype.kind == "i"
    a = release(np.zeros(50), epsilon=0.5, seed=4)
    b = release(np.zeros(50), epsilon=0.5, seed=4)
    assert np.array_equal(a, b) and a.std() > 0


def test_k_suppressed_release_is_k_anonymous_by_pycanon():
    # one row per person-hour with its (cell, hour): the microdata behind a people heatmap
    rng = np.random.default_rng(2)
    rows = pd.DataFrame({"cell": rng.integers(0, 30, 600), "hour": rng.integers(0, 6, 600)})
    counts = rows.groupby(["cell", "hour"]).size()
    for k in (2, 5):
        released = release(counts.to_numpy(), k_min=k)
        kept = counts.index[~np.isnan(released)]
        table = rows.set_index(["cell", "hour"]).loc[kept].reset_index()
        assert anonymity.k_anonymity(table, ["cell", "hour"]) >= k
        assert anonymity.k_anonymity(table, ["cell", "hour"]) == counts[kept].min()
    assert anonymity.k_anonymity(rows, ["cell", "hour"]) == counts.min() < 2
