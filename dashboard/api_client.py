"""A small typed HTTP client of the Aqkol API; the dashboard reads nothing else.

Every call returns a :class:`Fetched`: the data, or the empty shape of that data plus an
error message when the API is unreachable or answers badly. Callbacks never see an
exception, so a stopped API shows as "API unreachable" instead of a broken page.

Every answer is checked against the API's own model of its route (``services.api.schemas``,
listed in :data:`SHAPES`) and handed on as that model's JSON: the pages index plain dicts,
and an answer of another shape is logged as an error and shown as "unexpected shape" rather
than read half-way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from dashboard.i18n import _
from services.api import schemas as api

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 3.0
TOWN_TTL_S = 300.0  # the town is static; refetch now and then in case the simulator changed
RULE_TEXTS_TTL_S = 60.0  # rule titles and their translations, for alert titles
PREVIEW_TIMEOUT_S = 120.0  # a preview replays the whole stored day through one rule
CONTROL_TIMEOUT_S = 30.0  # a control waits for the simulator's acknowledgement


# What the dashboard reads, request by request: the API's own response model of each route
# (services/api/schemas), so a drift between the two fails loudly here instead of drawing
# an empty page; tests/dashboard/test_api_shapes.py keeps each the route's response_model.
# The classroom's answers are the simulator's own reports, free-form objects in the API too.
SHAPES: dict[tuple[str, str], Any] = {
    ("GET", "/health"): api.Health,
    ("GET", "/town"): api.Town,
    ("GET", "/heatmap"): api.Heatmap,
    ("GET", "/events/latest"): api.LatestEvents,
    ("GET", "/alerts"): api.AlertList,
    ("POST", "/alerts/acknowledge"): api.AlertActionResult,
    ("POST", "/alerts/clear"): api.AlertActionResult,
    ("POST", "/alerts/assign"): api.AlertActionResult,
    ("GET", "/rules"): api.RuleList,
    ("GET", "/rules/{rule_id}"): api.RuleOut,
    ("PUT", "/rules/{rule_id}"): api.RuleOut,
    ("POST", "/rules/validate"): api.Validation,
    ("POST", "/rules/preview"): api.Preview,
    ("POST", "/auth/token"): api.Token,
    ("GET", "/audit"): api.AuditPage,
    ("GET", "/audit/verify"): api.ChainOut,
    ("GET", "/register"): api.RegisterOut,
    ("GET", "/policy"): api.PolicyList,
    ("PUT", "/policy/active"): api.HistoryRow,
    ("GET", "/policy/effect"): api.Effect,
    ("GET", "/wire/sample"): api.WireSample,
    ("GET", "/stats"): api.Stats,
    ("GET", "/classroom/status"): dict[str, Any],
    ("POST", "/classroom/pause"): dict[str, Any],
    ("POST", "/classroom/resume"): dict[str, Any],
    ("POST", "/classroom/speed"): dict[str, Any],
    ("POST", "/classroom/jump"): dict[str, Any],
    ("POST", "/classroom/inject"): dict[str, Any],
    ("POST", "/classroom/reset"): dict[str, Any],
    ("GET", "/classroom/scenarios"): dict[str, Any],
    ("GET", "/classroom/cameras"): dict[str, Any],
    ("GET", "/classroom/replay"): dict[str, Any],
    ("GET", "/classroom/metrics"): dict[str, Any],
    ("GET", "/lab/runs"): api.LabRuns,
    ("GET", "/lab/runs/{run_id}"): api.LabResult,
    ("GET", "/lab/jobs/{experiment}"): api.LabJob,
    ("POST", "/lab/jobs"): api.LabJob,
}
_ADAPTERS: dict[tuple[str, str], TypeAdapter[Any]] = {k: TypeAdapter(v) for k, v in SHAPES.items()}

Data = dict[str, Any]  # an answer as JSON, checked against its model (see SHAPES)
AlertAction = Literal["acknowledge", "clear", "assign"]


def as_json(method: str, route: str, body: Any) -> Data:
    """``body`` checked against the API's model of ``method route`` and dumped back to JSON
    (defaults filled in, times as the API writes them); ValidationError if it does not fit."""
    adapter = _ADAPTERS[(method, route)]
    data: Data = adapter.dump_python(adapter.validate_python(body), mode="json")
    return data


class Unreachable(str):
    """An error saying that the API did not answer (a ``str``, shown as it is, in the page's
    language; its type, not its words, says what happened)."""


def unreachable(base_url: str, exc: Exception) -> Unreachable:
    """The error of an API that did not answer."""
    return Unreachable(
        _("API unreachable at {url} ({error})").format(url=base_url, error=type(exc).__name__)
    )


def is_unreachable(error: str | None) -> bool:
    """Whether an error says that the API did not answer."""
    return isinstance(error, Unreachable) or "unreachable" in (error or "")


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """What one API call gave: ``data`` (empty on failure) and the ``error``, if any."""

    data: T
    error: str | None = None
    problem: Data | None = None  # a rule refused by the API (422): file, line, message
    refused: int | None = None  # the status of a request the API refused with a reason (422, 429)

    @property
    def ok(self) -> bool:
        """True when the API answered with usable data."""
        return self.error is None


def empty_town() -> Data:
    """A town with nothing in it."""
    return api.Town().model_dump(mode="json")


class ApiClient:
    """Typed access to the Aqkol API; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        token: Callable[[], str | None] | None = None,
        verify: Any = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # the bearer token of whoever is asking (the dashboard: the logged-in user's session)
        self.token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
            verify=verify,
            headers={"accept": "application/json"},
        )
        self._town_lock = threading.Lock()
        self._town: tuple[float, Data] | None = None
        self._rule_texts: tuple[float, dict[str, Data]] | None = None
        self._failing = False

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        text: str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        kwargs: dict[str, Any] = {"params": clean}
        if text is not None:
            kwargs["content"] = text.encode("utf-8")
            kwargs["headers"] = {"content-type": "text/plain; charset=utf-8"}
        elif json is not None:
            kwargs["json"] = json
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 2.0))
        token = self.token() if self.token is not None else None
        if token:
            kwargs["headers"] = {**kwargs.get("headers", {}), "authorization": f"Bearer {token}"}
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response

    def _fetch(
        self,
        path: str,
        empty: Data,
        params: dict[str, Any] | None = None,
        *,
        method: str = "GET",
        route: str | None = None,
        text: str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Fetched[Data]:
        """``method path`` answered, checked against the model of ``route`` (the path's
        template, when it has parameters), or ``empty`` and why not."""
        problem: Data | None = None
        try:
            body = self._request(method, path, params, text=text, json=json, timeout=timeout).json()
        except httpx.HTTPStatusError as exc:
            error = _("API error {status} on {path}").format(
                status=exc.response.status_code, path=path
            )
            if exc.response.status_code in (401, 403):  # an answer about you, not a failing API
                return Fetched(empty, _refusal(exc.response))
            problem = _problem_of(exc.response)
            if problem is not None:  # a refusal is an answer, not a failing API
                return Fetched(empty, problem["message"], problem)
            reason = _reason_of(exc.response)
            if reason is not None:  # e.g. a heatmap the active policy does not release
                return Fetched(empty, reason, refused=exc.response.status_code)
        except httpx.HTTPError as exc:
            error = unreachable(self.base_url, exc)
        except ValueError:
            error = _("API sent invalid JSON on {path}").format(path=path)
        else:
            try:
                data = as_json(method, route or path, body)
            except ValidationError as exc:
                # the API and the dashboard disagree on a shape: a bug to fix, said loudly
                log.error("%s %s: the answer does not fit the API's model: %s", method, path, exc)
            else:
                self._failing = False
                return Fetched({**empty, **data})
            error = _("API sent an unexpected shape on {path}").format(path=path)
        # log the first failure of a streak, not every refresh of every open browser tab
        if not self._failing:
            log.warning("%s", error)
        self._failing = True
        return Fetched(empty, error)

    def health(self) -> Fetched[Data]:
        """GET /health."""
        return self._fetch("/health", {})

    def town(self) -> Fetched[Data]:
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
    ) -> Fetched[Data]:
        """GET /heatmap: H3 cells of one kind (or all events) over a window of simulated time."""
        params = {"kind": kind, "agg": agg, "window_s": window_s, "res": res, "until": until}
        empty = api.Heatmap(kind=kind, agg=agg, res=res, since=None, until=None, cells=[])
        return self._fetch("/heatmap", empty.model_dump(mode="json"), params)

    def latest(self, kind: str | None = None, *, within_s: int = 120) -> Fetched[Data]:
        """GET /events/latest: the newest event of each source."""
        params = {"kind": kind, "within_s": within_s}
        empty = api.LatestEvents(as_of=None, items=[]).model_dump(mode="json")
        return self._fetch("/events/latest", empty, params)

    def alerts(
        self, state: str | None = None, *, rule: str | None = None, limit: int = 50
    ) -> Fetched[Data]:
        """GET /alerts, newest ``last_seen`` first (``state``: active, acknowledged, cleared,
        or open for active and acknowledged)."""
        params = {"state": state, "rule": rule, "limit": limit}
        return self._fetch("/alerts", {"items": []}, params)

    def alert_action(
        self,
        action: AlertAction,
        ids: list[Any] | tuple[Any, ...] = (),
        *,
        rule: str | None = None,
        by: str = "analyst",
        assignee: str | None = None,
        reason: str | None = None,
    ) -> Fetched[Data]:
        """POST /alerts/{acknowledge,clear,assign}: by ids, or every open alert of ``rule``."""
        body: dict[str, Any] = {"ids": list(ids), "by": by}
        for key, value in (("rule", rule), ("assignee", assignee), ("reason", reason)):
            if value:
                body[key] = value
        return self._fetch(f"/alerts/{action}", {"changed": []}, method="POST", json=body)

    def rules(self) -> Fetched[Data]:
        """GET /rules: every rule file with its state and its alerts by state."""
        return self._fetch("/rules", {"items": []})

    def rule_texts(self) -> dict[str, Data]:
        """Every rule's title, description and translations by id, for alert titles in the
        viewer's language; asked at most once a minute, empty while the API refuses."""
        now = time.monotonic()
        with self._town_lock:
            if self._rule_texts is not None and now - self._rule_texts[0] < RULE_TEXTS_TTL_S:
                return self._rule_texts[1]
        got = self.rules()
        texts = {
            r["id"]: {
                "id": r["id"],
                "title": r.get("title"),
                "description": r.get("description"),
                "translations": r.get("translations") or {},
            }
            for r in got.data["items"]
            if r.get("id")
        }
        if got.ok:
            with self._town_lock:
                self._rule_texts = (now, texts)
        return texts

    def rule(self, rule_id: str) -> Fetched[Data]:
        """GET /rules/{id}: one rule with the YAML ``text`` of its file."""
        path = f"/rules/{_quote(rule_id)}"
        return self._fetch(path, {"id": rule_id, "text": None}, route="/rules/{rule_id}")

    def validate_rule(self, text: str) -> Fetched[Data]:
        """POST /rules/validate: the first problem of a rule's YAML, or ok and its needs."""
        empty = api.Validation(ok=False).model_dump(mode="json")
        return self._fetch("/rules/validate", empty, method="POST", text=text)

    def save_rule(self, rule_id: str, text: str) -> Fetched[Data]:
        """PUT /rules/{id}; a refused text gives ``problem`` (file, line, message)."""
        path, empty = f"/rules/{_quote(rule_id)}", {"id": rule_id, "text": None}
        return self._fetch(path, empty, method="PUT", route="/rules/{rule_id}", text=text)

    def preview_rule(self, text: str) -> Fetched[Data]:
        """POST /rules/preview: what this rule would have done on the stored day so far."""
        empty: Data = {"events": 0, "truncated": False, "alerts": [], "errors": 0}
        return self._fetch(
            "/rules/preview", empty, method="POST", text=text, timeout=PREVIEW_TIMEOUT_S
        )

    def login(self, username: str, password: str, *, client: str | None = None) -> Fetched[Data]:
        """POST /auth/token (OAuth2 password flow): a bearer token, or why not. ``client``:
        the signed address of the browser asking (services/auth/ratelimit.py)."""
        empty: Data = {"access_token": "", "expires_in": 0, "username": username, "role": ""}
        headers = {"x-aqkol-client": client} if client else {}
        try:
            response = self._http.post(
                "/auth/token", data={"username": username, "password": password}, headers=headers
            )
        except httpx.HTTPError as exc:
            return Fetched(empty, unreachable(self.base_url, exc))
        if response.status_code != 200:
            return Fetched(empty, _refusal(response))
        try:
            return Fetched(as_json("POST", "/auth/token", response.json()))
        except ValidationError as exc:
            log.error("POST /auth/token: the answer does not fit the API's model: %s", exc)
            return Fetched(
                empty, _("API sent an unexpected shape on {path}").format(path="/auth/token")
            )
        except ValueError:
            return Fetched(empty, _("API sent invalid JSON on {path}").format(path="/auth/token"))

    def logout(self) -> bool:
        """POST /auth/logout: the API ends every login of this account; whether it answered."""
        try:
            self._request("POST", "/auth/logout")
        except httpx.HTTPError as exc:
            log.warning("logout: the API did not end the token (%s)", type(exc).__name__)
            return False
        return True

    def audit(
        self, limit: int = 200, *, before: int | None = None, reads: bool = True
    ) -> Fetched[Data]:
        """GET /audit: the newest audit entries (auditor and teacher); ``reads=False``: only
        the acts (reveals, changes, the teacher's controls)."""
        params: dict[str, Any] = {"limit": limit, "before": before}
        if not reads:
            params["reads"] = "false"
        empty = api.AuditPage(items=[], total=0, next_before=None).model_dump(mode="json")
        return self._fetch("/audit", empty, params)

    def audit_verify(self) -> Fetched[Data]:
        """GET /audit/verify: whether the hash chain holds, and the first broken entry."""
        empty = api.ChainOut(ok=False, entries=0, head="").model_dump(mode="json")
        return self._fetch("/audit/verify", empty)

    def register(self) -> Fetched[Data]:
        """GET /register: the sensor register."""
        empty = api.RegisterOut(title="", operator="", devices=[]).model_dump(mode="json")
        return self._fetch("/register", empty)

    def policies(self) -> Fetched[Data]:
        """GET /policy: every policy file and which one is ``active``."""
        return self._fetch("/policy", api.PolicyList(active="", items=[]).model_dump(mode="json"))

    def switch_policy(self, policy: str, note: str | None = None) -> Fetched[Data]:
        """PUT /policy/active: make ``policy`` the one the ingest applies (teacher)."""
        return self._fetch(
            "/policy/active", {}, method="PUT", json={"policy": policy, "note": note}
        )

    def wire_sample(self, n: int = 40) -> Fetched[Data]:
        """GET /wire/sample: the newest raw messages on the broker, fields with categories
        (values withheld as the release rules say)."""
        empty = api.WireSample(policy="", edge=[], seen=0, items=[]).model_dump(mode="json")
        return self._fetch("/wire/sample", empty, {"n": n})

    def policy_effect(self, window_s: int = 3600, until: str | None = None) -> Fetched[Data]:
        """GET /policy/effect: what the active policy removed or changed in the window, with
        one example before and after (values withheld as the release rules say)."""
        empty: Data = {"policy": "", "changes": [], "totals": {}, "stored": {},
                       "wire_sampled": 0, "example": None}  # fmt: skip
        return self._fetch("/policy/effect", empty, {"window_s": window_s, "until": until})

    def classroom_status(self) -> Fetched[Data]:
        """GET /classroom/status: the simulator's own report of its state (teacher)."""
        return self._fetch("/classroom/status", {"state": "unknown"})

    def classroom(self, action: str, body: dict[str, Any] | None = None) -> Fetched[Data]:
        """POST /classroom/<action>: pause, resume, speed, jump, inject, reset (teacher)."""
        return self._fetch(
            f"/classroom/{action}", {}, method="POST", json=body or {}, timeout=CONTROL_TIMEOUT_S
        )

    def scenarios(self) -> Fetched[Data]:
        """GET /classroom/scenarios: what can be injected."""
        return self._fetch("/classroom/scenarios", {"items": []})

    def cameras(self, window_min: int = 15, until: str | None = None) -> Fetched[Data]:
        """GET /classroom/cameras: the camera wall, with ground truth (teacher)."""
        params = {"window_min": window_min, "until": until}
        return self._fetch("/classroom/cameras", {"tiles": [], "truth": False}, params)

    def replay(self, at: str | None = None, trail_min: int = 10) -> Fetched[Data]:
        """GET /classroom/replay: vehicles with trails and alerts at a stored time."""
        empty: Data = {"at": None, "vehicles": [], "trails": [], "alerts": []}
        return self._fetch("/classroom/replay", empty, {"at": at, "trail_min": trail_min})

    def metrics(self) -> Fetched[Data]:
        """GET /classroom/metrics: privacy figures of the store, with truth (teacher)."""
        return self._fetch("/classroom/metrics", {})

    def debrief(self) -> Fetched[str]:
        """GET /classroom/debrief: the session's debrief as HTML text (teacher)."""
        try:
            response = self._request("GET", "/classroom/debrief", timeout=CONTROL_TIMEOUT_S)
        except httpx.HTTPStatusError as exc:
            return Fetched("", _refusal(exc.response))
        except httpx.HTTPError as exc:
            return Fetched("", unreachable(self.base_url, exc))
        return Fetched(response.text)

    def stats(self) -> Fetched[Data]:
        """GET /stats: counters and the simulated clock."""
        empty = api.Stats(events=0, dead_letters=0, alerts_active=0, by_kind={}, sim_time=None)
        return self._fetch("/stats", empty.model_dump(mode="json"))

    def lab_runs(self) -> Fetched[Data]:
        """The lab's finished results (id, title), newest first."""
        return self._fetch("/lab/runs", {"items": []})

    def lab_result(self, run_id: str) -> Fetched[Data]:
        """A lab result's experiment and the Lab page's figures (Plotly JSON)."""
        empty = {"id": run_id, "title": "", "experiment": {}, "figures": {}}
        path = f"/lab/runs/{_quote(run_id)}"
        return self._fetch(path, empty, route="/lab/runs/{run_id}")

    def lab_job(self) -> Fetched[Data]:
        """Whether the quick experiment runs, its progress, whether it has a result."""
        return self._fetch(f"/lab/jobs/{LAB_QUICK}", _lab_job(), route="/lab/jobs/{experiment}")

    def start_lab_job(self) -> Fetched[Data]:
        """Start the quick experiment (the teacher's); its progress, ``started`` if this did."""
        body = {"experiment": LAB_QUICK}
        return self._fetch("/lab/jobs", _lab_job(), method="POST", json=body)


LAB_QUICK = "quick-look"  # the experiment the API starts for the Lab page


def _lab_job() -> dict[str, Any]:
    return {"experiment": LAB_QUICK, "running": False, "done": 0, "cells": 0,
            "finished": False, "started": False}  # fmt: skip


def _quote(segment: str) -> str:
    """A rule id as one path segment."""
    return quote(segment, safe="")


def _problem_of(response: httpx.Response) -> Data | None:
    """The ``{file, line, message}`` of a 422 refusal of a rule, if that is what it is."""
    if response.status_code != 422:
        return None
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        line = detail.get("line")
        return api.RuleProblem(
            file=str(detail.get("file") or ""),
            line=line if isinstance(line, int) else None,
            message=detail["message"],
        ).model_dump()
    return None


REASONED_REFUSALS = (422, 429)  # refused with a reason to show: not released, budget spent


def _reason_of(response: httpx.Response) -> str | None:
    """The API's reason for a 422 or 429 given as plain text (``{"detail": "..."}``)."""
    if response.status_code not in REASONED_REFUSALS:
        return None
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) and detail else None


def _refusal(response: httpx.Response) -> str:
    """The API's reason for a 401 or 403, for the user to read."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if response.status_code == 401:
        return _("not logged in or the login expired ({detail})").format(
            detail=detail or _("log in again")
        )
    return (
        _("not allowed: {detail}").format(detail=detail)
        if detail
        else _("not allowed for your role")
    )
