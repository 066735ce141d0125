"""``aqkol lab export``: the events a policy keeps of a lab day, for outside tools.

One file per kind (Parquet or CSV) of what the policy's real Minimizer keeps of the
simulated day, with the columns id, kind, source, ts (ISO 8601), lat, lon and the kept
data fields: the tables ARX, sdcMicro or pycanon take. For each kind the lab reports the
k-anonymity of its kept quasi-identifiers (the place, the time and the data fields the
event contract classes as quasi-identifying) and, where a sensitive field is kept, its
l-diversity, both computed with pycanon. The identifiers kept (in the clear or as
pseudonyms) are listed beside them: k says nothing about a row that carries one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from services.lab.data import DayKey, load_day
from services.lab.store import apply_policy, kept_frames, minimizer

Format = Literal["parquet", "csv"]
PLACE_TIME = ["lat", "lon", "ts"]
MAX_ROWS_SCORED = 200_000  # pycanon on bigger tables takes minutes: they are sampled


def _categories(kind: str) -> dict[str, str]:
    from services.events import event_models
    from services.events.contract import KINDS

    event_models()  # every kind registered
    data = KINDS.get(kind)
    return {} if data is None else {k: v.value for k, v in data.privacy().items()}


def kept_tables(day: Any, spec: Any) -> dict[str, pd.DataFrame]:
    """What ``spec`` keeps of ``day``, one table per kind (see the module)."""
    from services.lab.store import AQKOL_TZ

    frames = kept_frames(apply_policy(day.events, minimizer(spec)))
    out = {}
    for kind, f in sorted(frames.items()):
        ts = pd.to_datetime(f["t_ms"], unit="ms", utc=True).dt.tz_convert(AQKOL_TZ)
        t = pd.DataFrame(
            {
                "id": [day.events[i][0] for i in f["orig"]],
                "kind": kind,
                "source": f["source"],
                "ts": ts.map(lambda x: x.isoformat()),
                "lat": f["lat"],
                "lon": f["lon"],
                "aggregate": f["agg"],
            }
        )
        data = f.drop(columns=["orig", "source", "t_ms", "lat", "lon", "agg"])
        out[kind] = pd.concat([t, data], axis=1)
    return out


def anonymity(table: pd.DataFrame, kind: str, seed: int = 0) -> dict[str, Any]:
    """k-anonymity of the kept quasi-identifiers and l-diversity of each kept sensitive
    field (pycanon), and the identifiers kept. Tables over :data:`MAX_ROWS_SCORED` rows
    are scored on a seeded sample of that many rows (k of a sample is at most the table's
    k: an upper bound, said so by ``sampled``)."""
    from pycanon import anonymity as an

    cats = _categories(kind)
    qi = [c for c in PLACE_TIME if c in table and table[c].notna().any()]
    qi += [c for c, cat in cats.items() if cat == "quasi" and c in table]
    sa = [c for c, cat in cats.items() if cat == "sensitive" and c in table]
    ids = [c for c, cat in cats.items() if cat == "identifier" and c in table]
    out: dict[str, Any] = {"qi": qi, "sensitive": sa, "identifiers": ids, "sampled": False}
    if table.empty or not qi:
        return {**out, "k": None, "l": None}
    t = table
    if len(t) > MAX_ROWS_SCORED:
        t = t.sample(MAX_ROWS_SCORED, random_state=np.random.default_rng(seed).integers(2**31))
        out["sampled"] = True
    t = t[qi + sa].astype(str)  # pycanon groups on values: NaN as a value of its own
    out["k"] = int(an.k_anonymity(t, qi))
    out["l"] = int(an.l_diversity(t, qi, sa)) if sa else None
    return out


def export(
    policy: str,
    seed: int,
    out: Path | str,
    fmt: Format = "parquet",
    scenario: str = "normal-winter-day",
    hours: float | None = None,
    population_scale: float = 1.0,
    cache: Path | None = None,
    policies: Path | None = None,
) -> list[dict[str, Any]]:
    """Write one file per kind of what ``policy`` keeps of the day; return, per kind, its
    file, rows and anonymity (:func:`anonymity`)."""
    from services.policy.active import PolicyBook

    spec = (PolicyBook(policies) if policies else PolicyBook()).spec(policy)
    day = load_day(
        DayKey(seed=seed, scenario=scenario, hours=hours, population_scale=population_scale),
        cache,
    )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    report = []
    for kind, table in kept_tables(day, spec).items():
        path = folder / f"{kind}.{fmt}"
        if fmt == "parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        report.append({"kind": kind, "file": path, "rows": len(table), **anonymity(table, kind)})
    return report
