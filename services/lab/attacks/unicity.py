"""Unicity (de Montjoye et al. 2013, "Unique in the Crowd", Sci. Rep. 3:1376).

For each unit of a trace (a resident, or a resident-day under a daily salt) that has at least
``p`` distinct points (place, time bucket), draw ``p`` of its points at random; the unit is
unique if no other unit's trace contains all ``p``. Unicity is the share of such units that
are unique. Vectorised: the candidates of a unit are the units holding its rarest point,
filtered by membership of the others in the sorted (unit, point) pairs, in chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.events.town import DAY_MS
from services.lab.registry import register

MAX_CANDIDATES = 4_000_000  # candidate checks per chunk (bounds memory at coarse resolutions)
MAX_BITMAP_BYTES = 64 << 20  # membership by a bitmap of every (unit, point) up to this size


class _Pairs:
    """Membership in a sorted set of integers: a bitmap where it fits, else binary search."""

    def __init__(self, pairs: np.ndarray):
        self.pairs = pairs
        size = int(pairs[-1]) // 8 + 1 if len(pairs) else 1
        self.bits: np.ndarray | None = None
        if size <= MAX_BITMAP_BYTES:
            bits = np.zeros(size, np.uint8)
            np.bitwise_or.at(bits, pairs >> 3, (1 << (pairs & 7)).astype(np.uint8))
            self.bits = bits

    def contains(self, q: np.ndarray) -> np.ndarray:
        if self.bits is not None:
            inside = q <= self.pairs[-1]
            qq = np.where(inside, q, 0)
            return inside & ((self.bits[qq >> 3] >> (qq & 7).astype(np.uint8)) & 1).astype(bool)
        pos = np.minimum(np.searchsorted(self.pairs, q), len(self.pairs) - 1)
        return self.pairs[pos] == q


def point_keys(loc: np.ndarray, tbin: np.ndarray) -> np.ndarray:
    """One integer per (place, time bucket)."""
    loc = np.asarray(loc, np.int64)
    tbin = np.asarray(tbin, np.int64)
    if not len(loc):
        return loc
    t = tbin - tbin.min()
    return loc * (int(t.max()) + 1) + t


def unicity(
    unit: np.ndarray, key: np.ndarray, p: int, seed: int = 0, singled: bool = False
) -> dict[str, Any]:
    """Share of units with >= ``p`` points that ``p`` random points of theirs single out
    (0 when there are no traces at all, NaN when no trace has ``p`` points); with
    ``singled``, also the ids of the units singled out (under the key ``singled``)."""
    out = _unicity(unit, key, p, seed)
    if not singled:
        del out["singled"]
    return out


def _unicity(unit: np.ndarray, key: np.ndarray, p: int, seed: int) -> dict[str, Any]:
    unit = np.asarray(unit, np.int64)
    key = np.asarray(key, np.int64)
    if not len(unit):
        return {"unicity": 0.0, "eligible": 0, "units": 0, "unique": 0, "singled": unit[:0]}
    k_span = int(key.max()) + 1
    pairs = np.sort(unit * k_span + key)  # sorted by unit, then key (np.unique hashes: slower)
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]
    u, k = pairs // k_span, pairs % k_span
    n_units = int(u.max()) + 1
    count = np.bincount(u, minlength=n_units)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    eligible = np.flatnonzero(count >= p)
    out = {"units": int((count > 0).sum()), "eligible": len(eligible)}
    if not len(eligible):  # traces, but none this long: unicity is undefined
        return {**out, "unicity": float("nan"), "unique": 0, "singled": unit[:0]}
    # p random distinct points of each unit: shuffle within units, take the first p
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(pairs)), u))
    rank = np.arange(len(pairs)) - start[u[order]]
    take = order[(rank < p) & (count[u[order]] >= p)]
    chosen = k[take].reshape(len(eligible), p)  # rows follow eligible units in order
    # posting lists: the units holding each point
    by_key = np.argsort(k, kind="stable")
    k_sorted, holders = k[by_key], u[by_key]
    size = np.bincount(k, minlength=k_span)
    first = np.searchsorted(k_sorted, np.arange(k_span))
    chosen = np.take_along_axis(chosen, np.argsort(size[chosen], axis=1), axis=1)  # rarest first
    rare = chosen[:, 0]
    member = _Pairs(pairs)
    found = []
    lo = 0
    n = len(eligible)
    cum = np.cumsum(size[rare])
    while lo < n:
        base = cum[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, base + MAX_CANDIDATES, side="right")))
        hi = min(hi, n)
        rows = np.arange(lo, hi)
        sz = size[rare[rows]]
        row = np.repeat(rows, sz)
        offs = np.arange(len(row)) - np.repeat(np.cumsum(sz) - sz, sz)
        cand = holders[first[rare[row]] + offs]
        for j in range(1, p):
            hit = member.contains(cand * k_span + chosen[row, j])
            cand, row = cand[hit], row[hit]
        alone = np.flatnonzero(np.bincount(row - lo, minlength=hi - lo) == 1) + lo
        found.append(eligible[alone])
        lo = hi
    ids = np.concatenate(found)
    return {**out, "unicity": len(ids) / n, "unique": len(ids), "singled": ids}


@register(
    "unicity",
    ("unicity", "unicity_all", "traced_units", "analyst_days", "attacker_bucket_min"),
    inputs=("traces",),
)
def measure(ctx: Any) -> None:
    """Per number of known points: unicity among the traced units, and the share of all
    residents singled out (a resident with several units, e.g. one a day under a daily
    salt, counts once: never above 1)."""
    tr = ctx.traces
    key = point_keys(tr["loc"].to_numpy(), tr["tbin"].to_numpy())
    unit = tr["unit"].to_numpy()
    person_of = (
        pd.Series(tr["person"].to_numpy(), index=unit).groupby(level=0).first()
        if len(tr)
        else pd.Series(dtype=object)
    )
    for p in ctx.params.points:
        u = unicity(unit, key, p, seed=ctx.seed + p, singled=True)
        people = person_of.reindex(u["singled"]).nunique()
        ctx.put("unicity", u["unicity"], points=p)
        ctx.put("unicity_all", people / ctx.residents if ctx.residents else 0.0, points=p)
        ctx.put("traced_units", u["eligible"], points=p)
    # the attacker's time bucket: the one asked for, or the policy's where that is coarser
    bucket = max(int(ctx.params.time_bucket_min), int(ctx.view.minutes or 0), 1)
    ctx.put("attacker_bucket_min", bucket)
    t = tr["t_ms"].to_numpy(np.int64)
    ctx.put("analyst_days", (int(t.max()) - int(t.min())) / DAY_MS if len(t) else 0.0)
