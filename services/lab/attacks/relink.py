"""Re-linking daily pseudonyms by routine: what a daily salt really buys.

A daily salt gives a person a new pseudonym every day, and the lab's other trace attacks
treat that as a perfect unlink. It is not: people pass the same cameras at the same hours
every working day. The analyst splits the stored trace into day-units (one pseudonym on
one town day) and links each day-unit to the previous day's whose routine is most alike:
the largest weighted Jaccard similarity of their routines (their places at each time of
day), each point weighted by how rare it is (``log(N / holders)``, as in TF-IDF: a busy
stop at 8:00 says less than a side street at 7:10). Where the store itself links two
days (one identity, or a pseudonym that outlives the day) the link is given.

Scored against the truth: ``relink_linked``, the share of day-units (of a person also seen
the day before) linked to that person's previous day; ``relink_week_linked``, the share of
people seen on every day of the span whose every link is right (their week rebuilt). The
baseline is a guess among the previous day's day-units at random (1 / their number).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from services.events.town import DAY_MS
from services.lab.registry import register

LOCAL_OFFSET_MS = 6 * 3_600_000
MAX_HOLDERS = 40  # points held by more day-units do not make candidates (see link_days)


def day_units(traces: pd.DataFrame, bucket_ms: int) -> pd.DataFrame:
    """Columns unit, person, day, point: one row per distinct (day-unit, routine point). A
    routine point is a place at a time of day."""
    local = traces["t_ms"].to_numpy(np.int64) + LOCAL_OFFSET_MS
    per_day = max(1, DAY_MS // max(bucket_ms, 1))
    tod = (local % DAY_MS) * per_day // DAY_MS
    loc = traces["loc"].to_numpy(np.int64) * per_day
    base = {
        "unit": traces["unit"].to_numpy(),
        "person": traces["person"].to_numpy(),
        "day": local // DAY_MS,
    }
    return pd.DataFrame({**base, "point": loc + tod}).drop_duplicates(["unit", "day", "point"])


def link_days(a: pd.DataFrame, b: pd.DataFrame, idf_weights: bool = True) -> pd.Series:
    """For each unit of day ``b``, the unit of day ``a`` most alike (see the module)."""
    holders = pd.concat([a, b]).groupby("point")["unit"].nunique()
    n = a["unit"].nunique() + b["unit"].nunique()
    idf = np.log(n / holders) if idf_weights else holders * 0 + 1.0
    pa = a[["unit", "point"]].assign(w=a["point"].map(idf).to_numpy())
    pb = b[["unit", "point"]]
    # candidates share a point held by few: the busiest points (a stop at 8:00) weigh
    # little and would make most of the pairs to score
    rare = holders.index[holders.to_numpy() <= MAX_HOLDERS]
    j = pb[pb["point"].isin(rare)].merge(pa, on="point", suffixes=("_b", "_a"))
    if not j.empty:  # the shared busy points of the candidate pairs count too
        busy = pb[~pb["point"].isin(rare)].merge(pa, on="point", suffixes=("_b", "_a"))
        pairs = j[["unit_b", "unit_a"]].drop_duplicates()
        j = pd.concat([j, busy.merge(pairs, on=["unit_b", "unit_a"])])
    if j.empty:
        return pd.Series(dtype=object)
    score = j.groupby(["unit_b", "unit_a"])["w"].sum().rename("s").reset_index()
    size_a = pa.groupby("unit")["w"].sum()
    size_b = pb.assign(w=pb["point"].map(idf).to_numpy()).groupby("unit")["w"].sum()
    union = (
        size_a.reindex(score["unit_a"]).to_numpy()
        + size_b.reindex(score["unit_b"]).to_numpy()
        - score["s"].to_numpy()
    )
    score["s"] = score["s"].to_numpy() / np.maximum(union, 1e-12)  # weighted Jaccard
    best = score.sort_values(["unit_b", "s", "unit_a"], ascending=[True, False, True])
    return best.drop_duplicates("unit_b").set_index("unit_b")["unit_a"]


def relink(traces: pd.DataFrame, bucket_ms: int = 3_600_000) -> dict[str, float]:
    """``traces``: unit, person, loc, t_ms (see :func:`services.lab.traces.face_traces`)."""
    nan = float("nan")
    if traces.empty:
        return {"linked": nan, "week_linked": nan, "linked_baseline": nan, "links": 0.0}
    du = day_units(traces, bucket_ms)
    # a day-unit's id: the stored unit and the day (the store links a unit's days itself)
    du["du"] = du["unit"].astype(np.int64) * 100_000 + (du["day"] - du["day"].min())
    who = du.groupby("du")["person"].first()
    days = sorted(du["day"].unique())
    right, total, base = 0, 0, 0.0
    person_ok: dict[Any, bool] = {}
    for d0, d1 in itertools.pairwise(days):
        a, b = du[du["day"] == d0], du[du["day"] == d1]
        same = set(a["unit"]) & set(b["unit"])  # linked by the store itself
        guess = link_days(
            a[~a["unit"].isin(same)].assign(unit=a["du"]),
            b[~b["unit"].isin(same)].assign(unit=b["du"]),
        )
        bu = b.groupby("du").agg(unit=("unit", "first"), person=("person", "first"))
        bu = bu[bu["person"].isin(set(a["person"]))]  # a person also seen the day before
        a_du = a.groupby("unit")["du"].first()
        prev = np.where(
            bu["unit"].isin(same),
            bu["unit"].map(a_du).to_numpy(),
            guess.reindex(bu.index).to_numpy(),
        )
        prev_person = pd.Series(prev).map(who).to_numpy()
        ok = prev_person == bu["person"].to_numpy()
        right += int(ok.sum())
        total += len(bu)
        for person, good in zip(bu["person"], ok, strict=True):
            person_ok[person] = person_ok.get(person, True) and bool(good)
        base += len(bu) / max(a["du"].nunique(), 1)
    every_day = du.groupby("person")["day"].nunique()
    full = every_day.index[every_day == len(days)]
    week = [person_ok.get(p, False) for p in full] if len(days) > 1 else []
    return {
        "linked": right / total if total else nan,
        "week_linked": float(np.mean(week)) if week else nan,
        "linked_baseline": base / total if total else nan,
        "links": float(total),
    }


@register(
    "relink",
    ("relink_linked", "relink_week_linked", "relink_linked_baseline", "relink_links"),
    inputs=("traces",),
)
def measure(ctx: Any) -> None:
    bucket = max(int(ctx.params.time_bucket_min), int(ctx.view.minutes or 0), 1) * 60_000
    for k, v in relink(ctx.traces, bucket).items():
        ctx.put(f"relink_{k}", v)
