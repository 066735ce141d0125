"""A run of the town as pandas DataFrames: what :meth:`simulator.model.Town.run` returns.

```python
from simulator import Town

run = Town(seed=1, population_scale=0.05).run(hours=3, scenario="protest")
run.events["camera.face_match"]      # one DataFrame per event kind
run.truth["events"]                  # the ground truth of each event, by event id
run.truth["residents"]               # who lives in the town (synthetic people)
```

The events are the ones ``aqkol simulate`` would publish (same seed and parameters, same
events); the truth is what the publisher writes to the run folder (``truth.jsonl`` and
``truth.sqlite``, :mod:`simulator.truth`) and never sends. See docs/python-api.md.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from simulator.model import Town

ENVELOPE = ["id", "source", "ts", "lat", "lon"]
TRUTH_TABLES = ("residents", "households", "stays", "sightings", "cameras")


@dataclass
class TownRun:
    """One simulated run as DataFrames.

    Attributes:
        events: one DataFrame per event kind the town produces (every kind is a key, an
            empty frame when none happened), in time order: ``id``, ``source``, ``ts`` (an
            aware timestamp in +06:00), ``lat``, ``lon`` (NaN for devices without a
            position), then the kind's data fields as columns (a nested field as
            ``parent.child``).
        truth: DataFrames of the ground truth: ``events`` (one row per event that has a
            truth record: ``id``, ``kind``, ``source``, ``ts`` and what really happened,
            e.g. ``person`` and ``true_match`` of a face match, ``occupants_home`` of a
            gas reading), ``incidents`` (the scenario's incidents, a column per field of
            their records), and, unless the run was made with ``truth=False``, the
            tables of :mod:`simulator.truth`: ``residents``, ``households``, ``stays``,
            ``sightings`` and ``cameras``.
        params: the town's parameters (:meth:`Town.params`).
        hours: the simulated span.
    """

    events: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    params: dict[str, Any] = field(default_factory=dict)
    hours: float = 0.0

    @property
    def timeline(self) -> pd.DataFrame:
        """Every event's envelope (``kind``, ``id``, ``source``, ``ts``, ``lat``, ``lon``) in
        one frame, in time order."""
        parts = [df[ENVELOPE].assign(kind=kind) for kind, df in self.events.items() if len(df)]
        if not parts:
            return pd.DataFrame(columns=["kind", *ENVELOPE])
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values("ts", kind="stable", ignore_index=True)[["kind", *ENVELOPE]]

    def counts(self) -> pd.Series:
        """The number of events of each kind."""
        return pd.Series({k: len(v) for k, v in self.events.items()}, name="events")


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=ENVELOPE)
    df = pd.json_normalize(rows, sep=".")
    df["ts"] = pd.to_datetime(df["ts"], format="ISO8601")
    return df


def run_town(town: Town, hours: float, truth: bool = True) -> TownRun:
    """Simulate ``hours`` of ``town`` (a fresh one: its events start at its start) into a
    :class:`TownRun`; ``truth``: read the truth database's tables too."""
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in sorted(town.kinds)}
    truths: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []

    def on_truth(rec: dict[str, Any]) -> None:
        (incidents if rec.get("kind") == "incident" else truths).append(rec)

    for ev in town.events(hours, truth=on_truth):
        geo = ev.get("geo") or {}
        rows[ev["kind"]].append(
            {
                "id": ev["id"],
                "source": ev["source"],
                "ts": ev["ts"],
                "lat": geo.get("lat"),
                "lon": geo.get("lon"),
                **ev["data"],
            }
        )
    events = {kind: _frame(r) for kind, r in rows.items()}
    tables: dict[str, pd.DataFrame] = {
        "events": pd.json_normalize(truths, sep=".") if truths else pd.DataFrame(),
        "incidents": pd.json_normalize(incidents, sep=".") if incidents else pd.DataFrame(),
    }
    if len(tables["events"]):
        tables["events"]["ts"] = pd.to_datetime(tables["events"]["ts"], format="ISO8601")
    if truth:
        from simulator.truth import write_truth_db

        with tempfile.TemporaryDirectory(prefix="aqkol-truth-") as tmp:
            db = Path(tmp) / "truth.sqlite"
            write_truth_db(town, db, hours)
            with sqlite3.connect(db) as con:
                for name in TRUTH_TABLES:
                    tables[name] = pd.read_sql_query(f"SELECT * FROM {name}", con)
            con.close()
    return TownRun(events=events, truth=tables, params=town.params(), hours=hours)
