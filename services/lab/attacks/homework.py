"""Home and work from traces, and the anonymity set of the pair (Golle and Partridge 2009).

From each unit's captures the analyst guesses home as the place of its first capture of the
day (people leave home first) and work as its most frequent place between 09:00 and 17:00
(town time). A guess is right when it falls in the resident's true home or work cell. The
anonymity set of a resident is the number of residents sharing their true (home cell, work
cell) pair: a pair that only one resident has names that resident.

Golle and Partridge counted workers: ``homework_workers_*`` is the same attack with the
anonymity sets among commuters only (pupils, who share three schools, are half of the
residents with a day place). The baseline (``*_baseline``) is what an analyst holding no
stored data does best: guess everyone the commonest home cell, work cell and pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.events.town import HOUR_MS
from services.lab.registry import register

LOCAL_OFFSET_MS = 6 * 3_600_000


def anonymity_sets(home: pd.Series, work: pd.Series) -> pd.Series:
    """Per resident (index), how many residents share their (home, work) cell pair."""
    pair = pd.DataFrame({"home": home, "work": work}).dropna()
    return pair.groupby(["home", "work"])["home"].transform("size")


def home_work(
    traces: pd.DataFrame, cam_cell: dict, home: pd.Series, work: pd.Series
) -> dict[str, float]:
    """``traces``: unit, person, camera, t_ms; ``cam_cell``: camera -> cell; ``home`` and
    ``work``: true cells per resident (work NaN for those who stay home all day)."""
    sets = anonymity_sets(home, work)
    workers = len(sets)
    out = {
        "anonymity_median": float(sets.median()) if workers else 0.0,
        "anonymity_unique": float((sets == 1).mean()) if workers else 0.0,
    }
    if traces.empty or not workers:
        return {
            **out,
            "home_inferred": 0.0,
            "work_inferred": 0.0,
            "pair_inferred": 0.0,
            "identified": 0.0,
        }
    t = traces.assign(cell=traces["camera"].map(cam_cell))
    t = t.sort_values(["unit", "t_ms"])
    first = t.groupby("unit").agg(person=("person", "first"), home_guess=("cell", "first"))
    hour = ((t["t_ms"] + LOCAL_OFFSET_MS) // HOUR_MS) % 24
    day = t[(hour >= 9) & (hour < 17)]
    work_guess = (
        day.groupby(["unit", "cell"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["unit", "n", "cell"], ascending=[True, False, True])
        .drop_duplicates("unit")
        .set_index("unit")["cell"]
    )
    g = first.join(work_guess.rename("work_guess"))
    g["home_ok"] = g["home_guess"].to_numpy() == home.reindex(g["person"]).to_numpy()
    g["work_ok"] = g["work_guess"].to_numpy() == work.reindex(g["person"]).to_numpy()
    g["pair_ok"] = g["home_ok"] & g["work_ok"]
    per = g.groupby("person")[["home_ok", "work_ok", "pair_ok"]].any()
    per = per.reindex(sets.index, fill_value=False)
    unique = (sets == 1).to_numpy()
    return {
        **out,
        "home_inferred": float(per["home_ok"].mean()),
        "work_inferred": float(per["work_ok"].mean()),
        "pair_inferred": float(per["pair_ok"].mean()),
        "identified": float(np.mean(per["pair_ok"].to_numpy() & unique)),
    }


def baseline(home: pd.Series, work: pd.Series) -> dict[str, float]:
    """Everyone guessed the commonest home cell, work cell and (home, work) pair: the share
    right, over the residents with a pair (as :func:`home_work` scores)."""
    pair = pd.DataFrame({"home": home, "work": work}).dropna()
    if pair.empty:
        return {"home_inferred": 0.0, "work_inferred": 0.0, "pair_inferred": 0.0, "identified": 0.0}
    top = pair.value_counts().iloc[0]  # the commonest pair's size
    return {
        "home_inferred": float(pair["home"].value_counts().iloc[0] / len(pair)),
        "work_inferred": float(pair["work"].value_counts().iloc[0] / len(pair)),
        "pair_inferred": float(top / len(pair)),
        "identified": float(1 / len(pair)) if top == 1 else 0.0,
    }


INFERRED = ("home_inferred", "work_inferred", "pair_inferred", "identified")
STATS = ("anonymity_median", "anonymity_unique", *INFERRED)
NAMES = (
    [f"homework_{k}" for k in STATS]
    + [f"homework_{k}_baseline" for k in INFERRED]
    + [f"homework_workers_{k}" for k in STATS]
    + [f"homework_workers_{k}_baseline" for k in INFERRED]
)


@register("home_work", NAMES, inputs=("traces",))
def measure(ctx: Any) -> None:
    from services.lab.data import town_xy
    from services.lab.store import cell_of_xy

    res = ctx.params.h3_res or 9
    view = ctx.view
    distinct = len(set(view.loc.values())) == len(ctx.day.cameras)
    if not distinct and view.h3_res is not None:
        res = min(res, view.h3_res)
    homes, places = town_xy()
    cam_cell = {c.id: cell_of_xy(float(c.x), float(c.y), res) for c in ctx.day.cameras.itertuples()}
    r = ctx.day.residents.set_index("id")
    home = r["household"].map(lambda h: cell_of_xy(*homes[h], res))
    work = r["day_place"].map(lambda p: cell_of_xy(*places[p], res) if p in places else None)
    workers = r.index[r["role"] == "commuter"]
    tr = ctx.traces
    for prefix, t, h, w in (
        ("homework", tr, home, work),
        ("homework_workers", tr[tr["person"].isin(workers)], home[workers], work[workers]),
    ):
        for k, v in home_work(t, cam_cell, h, w).items():
            ctx.put(f"{prefix}_{k}", v)
        for k, v in baseline(h, w).items():
            ctx.put(f"{prefix}_{k}_baseline", v)
