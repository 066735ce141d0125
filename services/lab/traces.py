"""People's traces as a policy would store them: the points the attacks start from.

A trace point is (unit, place, time bucket). The unit is who the stored data says it is: a
resident (identities in the clear or a pseudonym that never rotates), a resident and day
(a daily salt), a resident and ISO week (weekly). The place is the camera as the policy
stores it (:func:`services.lab.store.face_view`), or its H3 cell at a coarser resolution an
experiment asks for; the time is bucketed to the coarser of the experiment's bucket and
the policy's. The analyst holds no more days of them than the policy's retention keeps
(:func:`within_retention`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.events.town import DAY_MS
from services.lab.store import FaceView, cell_of_xy
from services.policy.spec import PolicySpec

LOCAL_OFFSET_MS = 6 * 3_600_000


def face_traces(
    sightings: pd.DataFrame,
    cameras: pd.DataFrame,
    view: FaceView,
    *,
    h3_res: int | None = None,
    bucket_min: int = 60,
    listed: set | None = None,
    capture_rate: float = 0.7,
    seed: int = 0,
) -> pd.DataFrame:
    """Columns unit, person, camera, loc, tbin, t_ms: the face captures the policy keeps.

    ``sightings`` has person, camera, t_ms (every true pass, :mod:`simulator.truth`);
    ``cameras`` id, x, y, face. Only recognition cameras capture faces, each pass with
    probability ``capture_rate`` (drawn from ``seed``). Under a policy that keeps matches
    against some lists only, only the ``listed`` residents are in it.
    """
    cols = ["unit", "person", "camera", "loc", "tbin", "t_ms"]
    if not view.stores_identities:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols})
    face_ids = set(cameras.loc[cameras["face"].astype(bool), "id"])
    s = sightings[sightings["camera"].isin(face_ids)]
    if not view.everyone:
        s = s[s["person"].isin(listed or set())]
    rng = np.random.default_rng(seed)
    s = s[rng.random(len(s)) < capture_rate]
    cams = cameras.set_index("id")
    if h3_res is None or (view.h3_res is not None and view.h3_res <= h3_res):
        # the place as stored: cameras the policy stores alike are one place
        names = {c: view.loc.get(c, c) for c in cams.index}
    else:
        names = {c: cell_of_xy(float(r.x), float(r.y), h3_res) for c, r in cams.iterrows()}
    codes = {n: i for i, n in enumerate(sorted(set(names.values())))}
    cam_loc = {c: codes[n] for c, n in names.items()}
    bucket = max(int(bucket_min), int(view.minutes or 0), 1) * 60_000
    t = s["t_ms"].to_numpy(np.int64)
    local = t + LOCAL_OFFSET_MS
    person = s["person"].to_numpy()
    if view.identity == "clear" or view.salt == "never":
        period = np.zeros(len(s), np.int64)
    elif view.salt == "daily":
        period = local // DAY_MS
    else:  # weekly: ISO weeks start on Monday; 1970-01-01 was a Thursday
        period = (local // DAY_MS + 3) // 7
    pcode, _ = pd.factorize(person, sort=True)
    unit = pd.factorize(
        pcode.astype(np.int64) * 100_000 + (period - period.min() if len(period) else 0), sort=True
    )[0]
    return pd.DataFrame(
        {
            "unit": unit.astype(np.int64),
            "person": person,
            "camera": s["camera"].to_numpy(),
            "loc": s["camera"].map(cam_loc).to_numpy(np.int64),
            "tbin": local // bucket,
            "t_ms": t,
        }
    )


def retention_days(spec: PolicySpec, kind: str) -> float | None:
    """How many days ``spec`` keeps events of ``kind`` (None: kept for ever)."""
    r = spec.retention
    return r.kinds.get(kind, r.default_days)


def within_retention(
    sightings: pd.DataFrame, days: float | None, end_ms: int | None = None
) -> pd.DataFrame:
    """The passes of the ``days`` days before ``end_ms`` (default: the end of the last town
    day of the span): an analyst holding the store at the end of the span holds no more,
    since the policy deleted the rest. All of them when ``days`` is None or covers the span.
    """
    if days is None or sightings.empty:
        return sightings
    t = sightings["t_ms"].to_numpy(np.int64)
    if end_ms is None:  # the end of the last town day
        end_ms = ((int(t.max()) + LOCAL_OFFSET_MS) // DAY_MS + 1) * DAY_MS - LOCAL_OFFSET_MS
    keep = t >= end_ms - round(days * DAY_MS)
    return sightings if keep.all() else sightings[keep]
