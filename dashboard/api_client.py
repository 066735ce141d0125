"""A small typed HTTP client of the Aqkol API; the dashboard reads nothing else.

Every call returns a :class:`Fetched`: the data, or the empty shape of that data plus an
error message when the API is unreachable or answers badly. Callbacks never see an
exception, so a stopped API shows as "API unreachable" instead of a broken page.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 3.0
TOWN_TTL_S = 300.0  # the town is static; refetch now and then in case the simulator changed


class Point(TypedDict):
    lat: float
    lon: float


class Town(TypedDict, total=False):
    origin: Point
    lake: list[list[float]]
    streets: list[dict[str, Any]]
    buildings: list[dict[str, Any]]
    places: list[dict[str, Any]]
    stops: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    cameras: list[dict[str, Any]]


class HeatCell(TypedDict):
    cell: str
    lat: float
    lon: float
    value: float
    n: int
    boundary: list[list[float]]


class Heatmap(TypedDict, total=False):
    kind: str | None
    agg: str
    res: int
    since: str | None
    until: str | None
    cells: list[HeatCell]


class Event(TypedDict, total=False):
    id: str
    kind: str
    source: str
    ts: str
    geo: Point | None
    data: dict[str, Any]


class Latest(TypedDict, total=False):
    as_of: str | None
    items: list[Event]


class Alert(TypedDict, total=False):
    id: Any
    rule: str
    title: str
    severity: str
    state: str
    source: str | None
    kind: str | None
    geo: Point | None
    value: float | None
    count: int
    first_seen: str
    last_seen: str
    event_id: str | None
    details: dict[str, Any]


class Alerts(TypedDict):
    items: list[Alert]


class Stats(TypedDict, total=False):
    events: int
    dead_letters: int
    alerts_active: int
    by_kind: dict[str, int]
    sim_time: str | None


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """What one API call gave: ``data`` (empty on failure) and the ``error``, if any."""

    data: T
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the API answered with usable data."""
        return self.error is None


def empty_town() -> Town:
    """A town with nothing in it."""
    return Town(lake=[], streets=[], buildings=[], places=[], stops=[], routes=[], cameras=[])


class ApiClient:
    """Typed access to the Aqkol API; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
            headers={"accept": "application/json"},
        )
        self._town_lock = threading.Lock()
        self._town: tuple[float, Town] | None = None
        self._failing = False

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._http.get(path, params=clean)
        response.raise_for_status()
        return response.json()

    def _fetch(self, path: str, empty: T, params: dict[str, Any] | None = None) -> Fetched[T]:
        try:
            body = self._get(path, params)
        except httpx.HTTPStatusError as exc:
            error = f"API error {exc.response.status_code} on {path}"
        except httpx.HTTPError as exc:
            error = f"API unreachable at {self.base_url} ({type(exc).__name__})"
        except ValueError:
            error = f"API sent invalid JSON on {path}"
        else:
            if isinstance(body, dict) and isinstance(empty, dict):
                self._failing = False
                return Fetched({**empty, **body})  # type: ignore[arg-type]
            error = f"API sent an unexpected shape on {path}"
        # log the first failure of a streak, not every refresh of every open browser tab
        if not self._failing:
            log.warning("%s", error)
        self._failing = True
        return Fetched(empty, error)

    def health(self) -> Fetched[dict[str, Any]]:
        """GET /health."""
        return self._fetch("/health", {})

    def town(self) -> Fetched[Town]:
        """GET /town, cached for a few minutes (the town does not move)."""
        with self._town_lock:
            if self._town and time.monotonic() - self._town[0] < TOWN_TTL_S:
                return Fetched(self._town[1])
        fetched = self._fetch("/town", empty_town())
        if fetched.ok:
            with self._town_lock:
                self._town = (time.monotonic(), fetched.data)
        return fetched

    def heatmap(
        self,
        kind: str | None = None,
        *,
        agg: str = "count",
        window_s: int = 3600,
        res: int = 9,
        until: str | None = None,
    ) -> Fetched[Heatmap]:
        """GET /heatmap: H3 cells of one kind (or all events) over a window of simulated time."""
        params = {"kind": kind, "agg": agg, "window_s": window_s, "res": res, "until": until}
        return self._fetch("/heatmap", Heatmap(kind=kind, agg=agg, res=res, cells=[]), params)

    def latest(self, kind: str | None = None, *, within_s: int = 120) -> Fetched[Latest]:
        """GET /events/latest: the newest event of each source."""
        params = {"kind": kind, "within_s": within_s}
        return self._fetch("/events/latest", Latest(as_of=None, items=[]), params)

    def alerts(self, state: str | None = None, *, limit: int = 50) -> Fetched[Alerts]:
        """GET /alerts, newest ``last_seen`` first."""
        params = {"state": state, "limit": limit}
        return self._fetch("/alerts", Alerts(items=[]), params)

    def stats(self) -> Fetched[Stats]:
        """GET /stats: counters and the simulated clock."""
        empty = Stats(events=0, dead_letters=0, alerts_active=0, by_kind={}, sim_time=None)
        return self._fetch("/stats", empty)
