"""Tracking: the share of residents whose day can be followed from camera to camera.

A resident is followed when one unit of the stored trace (one identity or pseudonym)
links their captures at ``min_places`` or more distinct places: the data then show where
they went, not only that they passed. Scored against every resident of the town.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from services.lab.registry import register


def tracking(traces: pd.DataFrame, residents: int, min_places: int = 3) -> dict[str, float]:
    """``traces``: unit, person, loc (see :func:`services.lab.traces.face_traces`)."""
    if traces.empty or residents == 0:
        return {"followed": 0.0, "followed_n": 0, "places_median": 0.0}
    places = traces.groupby("unit").agg(person=("person", "first"), places=("loc", "nunique"))
    best = places.groupby("person")["places"].max()
    followed = int((best >= min_places).sum())
    return {
        "followed": followed / residents,
        "followed_n": followed,
        "places_median": float(best.median()),
    }


@register("tracking", ("tracking_followed", "tracking_places_median"), inputs=("traces",))
def measure(ctx: Any) -> None:
    tr = tracking(ctx.traces, ctx.residents)
    ctx.put("tracking_followed", tr["followed"])
    ctx.put("tracking_places_median", tr["places_median"])
