"""What a policy stores of a lab day: the kept events as pandas, and what it keeps of faces.

:func:`kept_frames` runs every cached event through the policy's real
:class:`~services.policy.apply.Minimizer` (as the ingest does, without MQTT or a database)
and returns one DataFrame per kind of what is kept.

:func:`face_view` asks the same Minimizer, with probe events, what it would keep of a face
identification at each camera: whether an identity is kept (in the clear, as a pseudonym
linking within the salt period, or not at all), against which watch lists, how precisely
the place is kept (the stored ``source`` and ``geo``: a policy that coarsens ``geo`` but
keeps the camera id in ``source`` still stores the camera), and the time bucket. The
attacks use it to render the camera network's face captures as the policy would store
them (see docs/lab.md, "the face-ID assumption").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import h3
import numpy as np
import pandas as pd

from services.events.town import AQKOL_TZ, WATCHLISTS
from services.policy.apply import Minimizer
from services.policy.spec import PolicySpec

LAB_SECRET = b"aqkol-lab-pseudonym-key"  # pseudonyms are only compared for equality here


def minimizer(spec: PolicySpec) -> Minimizer:
    """The policy compiled as the ingest compiles it (with the lab's own pseudonym key)."""
    return Minimizer(spec, LAB_SECRET)


def _as_event(ev: tuple) -> SimpleNamespace:
    eid, kind, source, ts, lat, lon, data = ev
    geo = SimpleNamespace(lat=lat, lon=lon) if lat is not None else None
    return SimpleNamespace(
        id=eid, kind=kind, source=source, ts=ts, geo=geo, data=SimpleNamespace(**data)
    )


def apply_policy(
    events: list[tuple], m: Minimizer, kinds: set[str] | None = None
) -> list[tuple[int, Any]]:
    """(index in ``events``, :class:`~services.policy.apply.Kept`) of every event ``m`` keeps
    (of ``kinds``, or of all); see :func:`iter_kept`."""
    return list(iter_kept(events, m, kinds))


def plain_kinds(m: Minimizer) -> set[str]:
    """The kinds ``m`` keeps as sent: no transform, not dropped, no biometric check."""
    from services.policy.apply import BIOMETRIC_KINDS

    if m.passthrough:
        return set(m.plans)
    return {
        kind
        for kind, plan in m.plans.items()
        if not plan.ops
        and not plan.drop_event
        and plan.aggregate is None
        and kind not in BIOMETRIC_KINDS
        and kind != "access.entry"
    }


def iter_kept(
    events: list[tuple], m: Minimizer, kinds: set[str] | None = None
) -> Iterator[tuple[int, Any]]:
    """:func:`apply_policy` one event at a time (the rule replay consumes them as they come).

    Two shortcuts that change no result: a kind the policy leaves as sent (no transform,
    not dropped, no biometric check) is kept without the per-event walk through ``apply``
    (which would only copy it), and pseudonyms are remembered per (value, field, period)
    (a keyed hash: the same input gives the same pseudonym)."""
    from services.policy.apply import Kept

    plain = plain_kinds(m)
    made: dict[tuple[Any, str, str], str] = {}
    pseudonym = m.pseudonym

    def remembered(value: Any, domain: str, period: str) -> str:
        key = (value, domain, period)
        p = made.get(key)
        if p is None:
            p = made[key] = pseudonym(value, domain, period)
        return p

    m.pseudonym = remembered  # type: ignore[method-assign]
    keep = m.keep
    try:
        for i, ev in enumerate(events):
            kind = ev[1]
            if kinds is not None and kind not in kinds:
                continue
            eid, _k, source, ts, lat, lon, data = ev
            if kind in plain:
                yield i, Kept(eid, kind, source, ts, lat, lon, dict(data))
                continue
            k = keep(eid, kind, source, ts, lat, lon, dict(data))  # = m.apply(_as_event(ev))
            if k is not None:
                yield i, k
            if len(m.escrow) > 10_000:
                m.escrow.clear()  # the lab has no key holder: the escrow would only grow
    finally:
        del m.pseudonym
        m.escrow.clear()


def _frame(orig: list[int], rows: list[tuple], datas: list[dict[str, Any]]) -> pd.DataFrame:
    """Columns from lists (much faster than a DataFrame of dicts): orig, source, ``t_ms``
    (Unix milliseconds of ``ts``), lat, lon, agg, then every data field any row has."""
    source, ts, lat, lon, agg = (list(c) for c in zip(*rows, strict=True))
    cols: dict[str, Any] = {
        "orig": np.array(orig, np.int64),
        "source": source,
        "t_ms": np.array([int(t.timestamp() * 1000) for t in ts], np.int64),
        "lat": np.array(lat, float),  # None -> NaN
        "lon": np.array(lon, float),
        "agg": np.array(agg, bool),
    }
    names: dict[str, None] = {}
    for d in datas:
        names.update(dict.fromkeys(d))
    for n in names:
        cols[n] = [d.get(n) for d in datas]
    return pd.DataFrame(cols)


def kept_frames(
    kept: list[tuple[int, Any]], kinds: set[str] | None = None
) -> dict[str, pd.DataFrame]:
    """One DataFrame per kind of what a policy kept (``orig`` the event's index among the
    day's events, source, t_ms, lat, lon, agg, then the kept data fields)."""
    parts: dict[str, tuple[list, list, list]] = {}
    for i, k in kept:
        if kinds is not None and k.kind not in kinds:
            continue
        o, r, d = parts.setdefault(k.kind, ([], [], []))
        o.append(i)
        r.append((k.source, k.ts, k.lat, k.lon, k.agg))
        d.append(k.data)
    return {kind: _frame(*p) for kind, p in parts.items()}


def raw_frames(events: list[tuple], kinds: set[str] | None = None) -> dict[str, pd.DataFrame]:
    """The events as sent, one DataFrame per kind (the same columns as :func:`kept_frames`)."""
    parts: dict[str, tuple[list, list, list]] = {}
    for i, (_eid, kind, source, ts, lat, lon, data) in enumerate(events):
        if kinds is not None and kind not in kinds:
            continue
        o, r, d = parts.setdefault(kind, ([], [], []))
        o.append(i)
        r.append((source, ts, lat, lon, False))
        d.append(data)
    return {kind: _frame(*p) for kind, p in parts.items()}


@dataclass(frozen=True)
class FaceView:
    """What a policy keeps of one face identification (see the module docstring)."""

    identity: str  # "clear" | "pseudonym" | "none"
    watchlists: frozenset[str]  # the lists whose matches are kept
    everyone: bool  # matches against every list are kept (the face-ID-everywhere reading)
    loc: dict[str, str]  # camera id -> the place as stored (cameras sharing it are one place)
    h3_res: int | None  # coarsest H3 resolution applied to geo (None: exact)
    minutes: int | None  # time bucket of ts (None: exact)
    salt: str  # daily | weekly | never: how long a pseudonym links

    @property
    def stores_identities(self) -> bool:
        return self.identity != "none"


def face_view(m: Minimizer, cameras: pd.DataFrame) -> FaceView:
    """Probe ``m`` with one face match per camera (and list) to see what it keeps."""
    from services.events import event_models
    from services.events.geo import to_latlon

    model = event_models()["camera.face_match"]
    ts = datetime(2026, 1, 15, 12, 7, 31, tzinfo=AQKOL_TZ)
    lists = set()
    for wl in WATCHLISTS:
        probe = {
            "schema": "aqkol.event/1",
            "id": "01JPROBE0000000000000000" + wl[:2].upper(),
            "kind": "camera.face_match",
            "source": "cam-probe",
            "ts": ts.isoformat(),
            "geo": {"lat": 52.0, "lon": 70.933},
            "data": {"enrollment_id": "wl-001", "likelihood": 0.9, "watchlist": wl},
        }
        k = m.apply(model.model_validate(probe))
        if k is not None:
            lists.add(wl)
    m.escrow.clear()
    identity, loc, minutes, res = "none", {}, None, None
    if lists:
        wl = sorted(lists)[0]
        for cam in cameras.itertuples():
            lat, lon = to_latlon(float(cam.x), float(cam.y))
            probe = {
                "schema": "aqkol.event/1",
                "id": "01JPROBE00000000000000CAM0",
                "kind": "camera.face_match",
                "source": cam.id,
                "ts": ts.isoformat(),
                "geo": {"lat": lat, "lon": lon},
                "data": {"enrollment_id": "wl-001", "likelihood": 0.9, "watchlist": wl},
            }
            k = m.apply(model.model_validate(probe))
            assert k is not None
            loc[cam.id] = f"{k.source}|{k.lat}|{k.lon}"
            eid = k.data.get("enrollment_id")
            identity = "clear" if eid == "wl-001" else ("pseudonym" if eid else "none")
            if k.ts != ts:
                minutes = minutes or 1
        m.escrow.clear()
        for action, f, t in m.plans["camera.face_match"].ops:
            if f == "ts" and action in ("generalize", "aggregate") and t.minutes:
                minutes = max(minutes or 0, t.minutes)
            if f == "geo" and action in ("generalize", "aggregate") and t.h3_res is not None:
                res = t.h3_res if res is None else min(res, t.h3_res)
    return FaceView(
        identity,
        frozenset(lists),
        lists >= set(WATCHLISTS),
        loc,
        res,
        minutes,
        m.spec.pseudonym_salt,
    )


def cell_of_xy(x: float, y: float, res: int) -> str:
    """The H3 cell of a point in town metres."""
    from services.events.geo import to_latlon

    lat, lon = to_latlon(x, y)
    return h3.latlng_to_cell(lat, lon, res)
