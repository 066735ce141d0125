"""Release-time protection as the lab applies it: k-suppression and Laplace noise.

The scale is OpenDP's: the one its privacy map gives ``make_laplace`` for ``epsilon`` at the
layer's L1 sensitivity (exactly what :mod:`services.policy.release` serves: 1 on the event
layers, 1 or 2 on the people layer by the policy's unit). OpenDP draws from its own
unseedable generator, so that a lab experiment is reproducible the lab draws the same
distribution (integer Laplace, P(k) proportional to exp(-|k| / scale), the difference of two
geometric variables) from a seeded numpy generator; ``tests/lab/test_release.py`` checks both
against the distribution's mean and variance.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def laplace_scale(epsilon: float, d_in: int = 1) -> float:
    """OpenDP's Laplace scale for ``epsilon`` at L1 sensitivity ``d_in`` (integer counts):
    the same binary search as :func:`services.policy.release._measurement`."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int))
    return float(
        dp.binary_search_param(
            lambda s: dp.m.make_laplace(*space, scale=s), d_in=d_in, d_out=epsilon
        )
    )


def discrete_laplace(rng: np.random.Generator, scale: float, size: int | tuple) -> np.ndarray:
    """Integer Laplace noise of ``scale`` (mean 0, variance 2q/(1-q)^2, q = exp(-1/scale))."""
    p = 1.0 - math.exp(-1.0 / scale)
    return rng.geometric(p, size) - rng.geometric(p, size)


def variance(scale: float) -> float:
    """The variance of :func:`discrete_laplace` at ``scale``."""
    q = math.exp(-1.0 / scale)
    return 2 * q / (1 - q) ** 2


def release(
    counts: np.ndarray,
    k_min: int = 1,
    epsilon: float | None = None,
    seed: int = 0,
    sensitivity: float = 1.0,
) -> np.ndarray:
    """Released counts (float; NaN where suppressed): noise first, if any, then k_min. The
    noise scale is OpenDP's for ``epsilon`` at L1 sensitivity ``sensitivity`` (the most one
    protected unit changes the layer by; rounded up to an integer, as OpenDP's integer
    counts take it)."""
    out = np.asarray(counts, dtype=float).copy()
    if epsilon is not None:
        rng = np.random.default_rng(seed)
        scale = laplace_scale(float(epsilon), max(1, math.ceil(float(sensitivity) - 1e-9)))
        out = out + discrete_laplace(rng, scale, out.shape)
    if k_min > 1:
        out[out < k_min] = np.nan
    return out
