"""Plain functions that build contract events for tests."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson
from ulid import ULID

from services.events import event_dict, topic_for
from services.events.town import AQKOL_TZ

T0 = datetime(2026, 1, 15, 7, 30, tzinfo=AQKOL_TZ)
DEFAULT_DATA: dict[str, dict[str, Any]] = {
    "gas.reading": {"m3": 0.4, "interval_min": 30, "household": "hh-0001", "account": "acc-1"},
    "env.reading": {"temperature_c": -15.5, "humidity_pct": 80.0},
    "camera.crowd": {"count": 12, "window_s": 60},
    "camera.object": {"class_type": "abandoned_bag", "likelihood": 0.7},
    "camera.face_match": {"enrollment_id": "wl-1", "likelihood": 0.9, "watchlist": "wanted"},
    "vehicle.position": {
        "vehicle_type": "bus",
        "bearing": 90.0,
        "speed_mps": 8.0,
        "route_id": "r1",
    },
}


def make_event(
    kind: str = "gas.reading",
    source: str = "gas-0001",
    ts: datetime = T0,
    data: dict[str, Any] | None = None,
    geo: tuple[float, float] | None = (52.0, 70.933),
    event_id: str | None = None,
) -> dict[str, Any]:
    """A valid event of ``kind``."""
    eid = event_id or str(ULID.from_datetime(ts))
    return event_dict(kind, source, ts, copy.deepcopy(data or DEFAULT_DATA[kind]), eid, geo)


def message(event: dict[str, Any], prefix: str = "") -> tuple[str, bytes]:
    """(topic, payload) for an event."""
    return topic_for(event["kind"], event["source"], prefix), orjson.dumps(event)
