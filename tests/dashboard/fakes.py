"""An in-process fake of the API for dashboard tests (httpx.MockTransport, no sockets).

Every answer is built through the API's own model (``services.api.schemas``), as the API
builds it: a fake cannot answer with a shape the API would not send.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import parse_qsl

import h3
import httpx
from pydantic import BaseModel

from services.api import schemas as api
from services.events.geo import to_latlon

NOW = "2026-01-15T02:00:00+00:00"  # 08:00 in Aqkol


def shaped(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """``data`` as the API sends it: through its model, to JSON (defaults filled in)."""
    return model.model_validate(data).model_dump(mode="json")


def answer(model: type[BaseModel], data: Any, status: int = 200) -> httpx.Response:
    """An answer of the API: ``data`` through the route's response model."""
    return httpx.Response(status, json=shaped(model, data))


def heat_cells(values: list[float], res: int = 9) -> list[dict[str, Any]]:
    """H3 cells in a row west to east through the centre, one per value."""
    cells = []
    for i, value in enumerate(values):
        cell = h3.latlng_to_cell(*to_latlon(-1500 + 250 * i, 0), res)
        lat, lon = h3.cell_to_latlng(cell)
        boundary = [list(p) for p in h3.cell_to_boundary(cell)]
        cells.append(shaped(api.HeatCell, {"cell": cell, "lat": lat, "lon": lon, "value": value,
                                           "n": 1, "boundary": boundary}))  # fmt: skip
    return cells


TOWN: dict[str, Any] = shaped(
    api.Town,
    {
        "origin": {"lat": 52.0, "lon": 70.933},
        "lake": [[900, -400], [1400, -300], [1500, 300], [1000, 500]],
        "streets": [
            {"name": "Abay avenue", "class": "avenue", "path": [[-800, 0], [800, 0]]},
            {"name": "School street", "class": "street", "path": [[0, -600], [0, 600]]},
        ],
        "buildings": [
            {"kind": "house", "polygon": [[10, 10], [30, 10], [30, 25], [10, 25]]},
            {"kind": "house", "polygon": [[40, 10], [60, 10], [60, 25], [40, 25]]},
            {"kind": "school", "polygon": [[-200, 100], [-100, 100], [-100, 160], [-200, 160]]},
        ],
        "places": [
            {"id": "school-1", "name": "School No. 1", "kind": "school", "x": -150, "y": 130}
        ],
        "stops": [{"id": "s1", "name": "Centre", "x": 0, "y": 0}],
        "routes": [{"id": "1", "name": "1 Centre", "stops": ["s1"], "path": [[-800, 0], [800, 0]]}],
        "cameras": [{"id": "cam-001", "x": 5, "y": 5, "place": "crossing"}],
    },
)

LATEST = shaped(api.LatestEvents, {
    "as_of": NOW,
    "items": [
        {
            "id": "e1", "kind": "vehicle.position", "source": "bus-01", "ts": NOW,
            "geo": {"lat": 52.0, "lon": 70.933},
            "data": {"vehicle_type": "bus", "route_id": "1", "bearing": 90.0, "speed_mps": 8.0,
                     "delay_s": 240, "occupancy_status": "FEW_SEATS_AVAILABLE"},
        }
    ],
})  # fmt: skip

ALERTS = shaped(api.AlertList, {
    "items": [
        {
            "id": 2, "rule": "large-group", "title": "Large group: 40 people at cam-001",
            "severity": "major", "state": "active", "source": "cam-001", "kind": "camera.crowd",
            "geo": {"lat": 52.0005, "lon": 70.9331}, "value": 40, "count": 3,
            "first_seen": "2026-01-15T01:50:00+00:00", "last_seen": "2026-01-15T01:59:00+00:00",
            "event_id": "e9", "details": {}, "dedup_key": "cam-001",
        },
        {
            "id": 1, "rule": "large-group", "title": "Large group: 30 people at cam-002",
            "severity": "major", "state": "resolved", "source": "cam-002", "kind": "camera.crowd",
            "geo": None, "value": 30, "count": 1,
            "first_seen": "2026-01-15T01:00:00+00:00", "last_seen": "2026-01-15T01:10:00+00:00",
            "event_id": "e8", "details": {}, "dedup_key": "cam-002",
        },
    ]
})  # fmt: skip

STATS = shaped(
    api.Stats,
    {
        "events": 12345,
        "dead_letters": 2,
        "alerts_active": 1,
        "by_kind": {"camera.crowd": 10000, "vehicle.position": 2345},
        "sim_time": NOW,
    },
)


LARGE_GROUP_YAML = """id: large-group
title: Large group
severity: major
purpose: public_safety
kinds: [camera.crowd]
when: data.count > 25
for_minutes: 10
"""

RULES: list[dict[str, Any]] = [
    shaped(api.RuleOut, r)
    for r in [
        {
            "id": "large-group",
            "file": "large-group.yaml",
            "title": "Large group",
            "description": "More than 25 people",
            "severity": "major",
            "purpose": "public_safety",
            "misuse": False,
            "kinds": ["camera.crowd"],
            "needs": ["data.count"],
            "state": "active",
            "reason": None,
            "error": None,
            "alerts": {"active": 1, "cleared": 4},
        },
        {
            "id": "watchlist-activist",
            "file": "watchlist-activist.yaml",
            "title": "Watch-list match: activist",
            "description": "",
            "severity": "minor",
            "purpose": "public_safety",
            "misuse": True,
            "kinds": ["camera.face"],
            "needs": ["data.face_id"],
            "state": "blinded",
            "reason": "policy 'minimal' removes data.face_id",
            "error": None,
            "alerts": {},
        },
        {
            "id": "broken",
            "file": "broken.yaml",
            "state": "refused",
            "misuse": False,
            "kinds": [],
            "needs": [],
            "alerts": {},
            "error": {"file": "broken.yaml", "line": 7, "message": "unknown field 'wen'"},
        },
    ]
]

PREVIEW = shaped(api.Preview, {
    "rule": "large-group", "since": "2026-01-14T18:00:00+00:00", "until": NOW,
    "events": 4321, "truncated": False, "state": "active", "reason": None, "errors": 0,
    "last_error": None,
    "alerts": [
        {"rule": "large-group", "dedup_key": "cam-001", "title": "Large group at cam-001",
         "severity": "major", "state": "active", "first_seen": "2026-01-15T01:30:00+00:00",
         "last_seen": "2026-01-15T01:50:00+00:00", "count": 4, "value": 40.0,
         "source": "cam-001"},
        {"rule": "large-group", "dedup_key": "cam-007", "title": "Large group at cam-007",
         "severity": "major", "state": "cleared", "first_seen": "2026-01-15T00:10:00+00:00",
         "last_seen": "2026-01-15T00:20:00+00:00", "count": 1, "value": 27.0,
         "source": "cam-007"},
    ],
})  # fmt: skip

PASSWORD = "right-password"  # the fake API's password for any user name
ROLES = ("teacher", "analyst", "auditor", "student")
CHAIN_OK = shaped(api.ChainOut, {"ok": True, "entries": 3, "head": "ab" * 32})
CHAIN_BROKEN = shaped(api.ChainOut, {"ok": False, "entries": 2, "head": "cd" * 32, "broken_id": 2,
                                     "reason": "content changed after it was written"})  # fmt: skip
AUDIT = [shaped(api.AuditEntry, e) for e in [
    {"id": 3, "at": "2026-01-15T02:05:00+00:00", "actor": "analyst", "role": "analyst",
     "action": "reveal", "target": "ps-4f2a",
     "detail": {"legal_basis": "missing_person", "justification": "Child missing since 08:10",
                "expires_at": "2026-01-15T06:00:00+00:00"}, "prev_hash": "1" * 64,
     "hash": "2" * 64},
    {"id": 2, "at": "2026-01-15T02:01:00+00:00", "actor": "student", "role": "student",
     "action": "query", "target": "GET /alerts", "detail": {}, "prev_hash": "0" * 64,
     "hash": "1" * 64},
    {"id": 1, "at": "2026-01-15T02:00:00+00:00", "actor": "analyst", "role": "analyst",
     "action": "query", "target": "GET /events", "detail": {"params": {"kind": "gas.reading"}},
     "prev_hash": "0" * 64, "hash": "0" * 64},
]]  # fmt: skip
REGISTER = shaped(api.RegisterOut, {
    "title": "Aqkol sensor register", "operator": "Aqkol akimat (simulated)",
    "devices": [
        {"id": "cctv", "name": "Street cameras", "technology": "CCTV", "count": "about 150",
         "sources": ["cam-"], "kinds": ["camera.face_match"], "purpose": "public_safety",
         "purpose_text": "Match faces against watch lists", "retention": "30 days",
         "accountable": {"body": "Police (simulated)", "contact": "police@aqkol.example"},
         "access": "police", "storage": "data center", "notes": None,
         "data": [{"kind": "camera.face_match", "description": "", "source_category": "telemetry",
                   "fields": [{"name": "likelihood", "category": "telemetry", "description": ""},
                              {"name": "enrollment_id", "category": "identifier",
                               "description": "watch-list entry"}]}]},
    ],
})  # fmt: skip

BAD_MARK = "((("  # a rule text containing this is refused by the fake
BAD_PROBLEM = shaped(api.RuleProblem, {"file": "editor", "line": 5,
                                        "message": "unbalanced parenthesis"})  # fmt: skip
OPEN_STATES = ("active", "acknowledged")


WIRE_SAMPLE = shaped(api.WireSample, {
    "policy": "gdpr-minimal",
    "edge": [],
    "seen": 2,
    "items": [
        {"received_at": NOW, "topic": "aqkol/v1/vehicle.position/(withheld)",
         "kind": "vehicle.position", "bytes": 300, "fields": [
             {"name": "data.plate", "value": "(withheld)", "category": "identifier",
              "withheld": True},
             {"name": "data.speed_mps", "value": 5.5, "category": "telemetry",
              "withheld": False}]},
    ],
})  # fmt: skip


class FakeApi:
    """Answers like the API; counts the requests it saw. Alert actions change its alerts."""

    def __init__(
        self,
        heat_values: list[float] | None = None,
        *,
        policy: str = "none",
        stats: dict[str, Any] | None = None,
        alerts: list[dict[str, Any]] | None = None,
        heat_refusal: tuple[int, str] | None = None,
    ) -> None:
        self.heat_values = [3, 8, 20, 45] if heat_values is None else heat_values
        self.policy = policy  # the "active" of GET /policy
        self.stats = STATS if stats is None else stats
        self.heat_refusal = heat_refusal  # (status, detail): the policy does not release it
        self.requests: list[httpx.Request] = []
        self.alerts: list[dict[str, Any]] = copy.deepcopy(
            ALERTS["items"] if alerts is None else alerts
        )
        self.saved: dict[str, str] = {}
        self.chain: dict[str, Any] = dict(CHAIN_OK)

    def _rule_answer(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == "/rules" and request.method == "GET":
            return answer(api.RuleList, {"items": RULES})
        text = request.content.decode("utf-8")
        if path == "/rules/validate":
            if BAD_MARK in text:
                return answer(api.Validation, {"ok": False, "error": BAD_PROBLEM})
            return answer(api.Validation, {"ok": True, "needs": ["data.count"]})
        if path == "/rules/preview":
            if BAD_MARK in text:
                return httpx.Response(422, json={"detail": BAD_PROBLEM})
            return answer(api.Preview, PREVIEW)
        rule_id = path.removeprefix("/rules/")
        rule = next((r for r in RULES if r["id"] == rule_id), None)
        if request.method == "PUT":
            if BAD_MARK in text:
                return httpx.Response(422, json={"detail": BAD_PROBLEM})
            self.saved[rule_id] = text
            new = {"id": rule_id, "file": f"{rule_id}.yaml", "state": "active"}
            return answer(api.RuleOut, {**(rule or new), "text": text})
        if rule is None:
            return httpx.Response(404, json={"detail": f"no rule {rule_id!r}"})
        return answer(api.RuleOut, {**rule, "text": LARGE_GROUP_YAML})

    def _alert_list(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        state, rule = q.get("state"), q.get("rule")
        wanted = OPEN_STATES if state == "open" else (state,)
        items = [
            a
            for a in self.alerts
            if (state is None or a["state"] in wanted) and (rule is None or a["rule"] == rule)
        ]
        return answer(api.AlertList, {"items": items})

    def _alert_action(self, action: str, body: dict[str, Any]) -> httpx.Response:
        ids = set(body.get("ids") or [])
        if body.get("rule"):
            ids |= {a["id"] for a in self.alerts if a["rule"] == body["rule"]
                    and a["state"] in OPEN_STATES}  # fmt: skip
        changed = []
        for a in self.alerts:
            if a["id"] not in ids:
                continue
            if action == "acknowledge" and a["state"] == "active":
                a.update(state="acknowledged", acknowledged_by=body["by"], acknowledged_at=NOW)
            elif action == "clear" and a["state"] in OPEN_STATES:
                a.update(state="cleared", cleared_by=body["by"], cleared_at=NOW,
                         clear_reason=body.get("reason"))  # fmt: skip
            else:
                continue
            changed.append(a["id"])
        return answer(api.AlertActionResult, {"changed": changed})

    def _transparency(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == "/auth/token":
            form = dict(parse_qsl(request.content.decode()))
            if form.get("password") != PASSWORD:
                return httpx.Response(401, json={"detail": "wrong user name or password"})
            role = form["username"] if form["username"] in ROLES else "analyst"
            body = {"access_token": f"token-of-{form['username']}", "token_type": "bearer",
                    "expires_in": 3600, "username": form["username"], "role": role}  # fmt: skip
            return answer(api.Token, body)
        who = request.headers.get("authorization", "").removeprefix("Bearer token-of-")
        if path.startswith("/audit") and who in ("analyst", "student"):
            return httpx.Response(403, json={"detail": f"role '{who}' may not GET {path}"})
        if path == "/audit":
            reads = request.url.params.get("reads") != "false"
            items = AUDIT if reads else [e for e in AUDIT if e["action"] != "query"]
            return answer(api.AuditPage, {"items": items, "total": 3, "next_before": None})
        if path == "/audit/verify":
            return answer(api.ChainOut, self.chain)
        return answer(api.RegisterOut, REGISTER)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith(("/auth/", "/audit")) or path == "/register":
            return self._transparency(request, path)
        if path == "/health":
            return answer(api.Health, {"status": "ok", "database": "ok"})
        if path == "/wire/sample":
            return answer(api.WireSample, WIRE_SAMPLE)
        if path == "/policy/effect":
            return answer(api.Effect, effect_of(self.policy))
        if path == "/town":
            return answer(api.Town, TOWN)
        if path == "/heatmap" and self.heat_refusal is not None:
            code, detail = self.heat_refusal
            return httpx.Response(code, json={"detail": detail})
        if path == "/heatmap":
            q = request.url.params
            body = {
                "kind": q.get("kind"), "agg": q.get("agg", "count"), "res": int(q.get("res", 9)),
                "since": "2026-01-15T01:00:00+00:00", "until": NOW,
                "cells": heat_cells(self.heat_values),
            }  # fmt: skip
            return answer(api.Heatmap, body)
        if path == "/events/latest":
            return answer(api.LatestEvents, LATEST)
        if path == "/alerts":
            return self._alert_list(request)
        if path == "/classroom/replay":  # live: the newest vehicles and alerts, no trails
            alerts = self._alert_list(request).json()["items"]
            body = {"at": NOW, "newest": NOW, "vehicles": LATEST["items"], "trails": [],
                    "alerts": alerts, "events": self.stats.get("events", 0)}  # fmt: skip
            return httpx.Response(200, json=body)
        if path in ("/alerts/acknowledge", "/alerts/clear") and request.method == "POST":
            return self._alert_action(path.rsplit("/", 1)[1], json.loads(request.content))
        if path == "/rules" or path.startswith("/rules/"):
            return self._rule_answer(request, path)
        if path == "/stats":
            return answer(api.Stats, self.stats)
        if path == "/policy/active" and request.method == "PUT":
            wanted = json.loads(request.content)["policy"]
            if wanted not in ("none", "gdpr-minimal", "dp-heatmaps"):
                return httpx.Response(422, json={"detail": f"no policy {wanted!r}"})
            self.policy = wanted
            row = {"id": 2, "policy": wanted, "sha256": "0" * 64, "activated_at": NOW,
                   "sim_time": NOW, "activated_by": "teacher", "note": None}  # fmt: skip
            return answer(api.HistoryRow, row)
        if path == "/policy":
            items = [{"id": p, "file": f"{p}.yaml", "active": p == self.policy}
                     for p in ("none", "gdpr-minimal", "dp-heatmaps")]  # fmt: skip
            return answer(api.PolicyList, {"active": self.policy, "items": items})
        return httpx.Response(404, json={"detail": "Not Found"})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def effect_of(policy: str) -> dict[str, Any]:
    """GET /policy/effect as a student receives it: nothing under ``none``; under another
    policy, face matches' names dropped and identifiers pseudonymized, payments not stored."""
    base = {"policy": policy, "since": "2026-01-15T01:00:00+00:00", "until": NOW,
            "window_s": 3600, "stored": {"camera.face_match": 3, "gas.reading": 40},
            "wire_sampled": 200}  # fmt: skip
    if policy == "none":
        return shaped(api.Effect, {**base, "totals": {}, "changes": [], "example": None})
    changes = [
        {"action": "drop", "kind": "camera.face_match", "fields": ["data.name"], "at": "ingest",
         "stored": 3, "wire": 1},
        {"action": "pseudonymize", "kind": "gas.reading", "fields": ["source", "data.household"],
         "at": "ingest", "stored": 40, "wire": 12},
        {"action": "drop_event", "kind": "payment.gas", "fields": [], "at": "ingest",
         "stored": None, "wire": 2},
    ]  # fmt: skip
    example = {"kind": "camera.face_match", "id": "01KEZ", "stored": True, "outcome": "changed",
               "fields": [
        {"name": "data.name", "category": "identifier", "before": "(withheld)", "after": None,
         "change": "dropped", "withheld": True},
        {"name": "data.enrollment_id", "category": "identifier", "before": "(withheld)",
         "after": "(withheld)", "change": "pseudonymized", "withheld": True},
        {"name": "data.likelihood", "category": "telemetry", "before": 0.93, "after": 0.93,
         "change": "kept", "withheld": False},
    ]}  # fmt: skip
    totals = {"drop": 3, "pseudonymize": 40, "drop_event": 2}
    return shaped(api.Effect, {**base, "totals": totals, "changes": changes, "example": example})


def unreachable(request: httpx.Request) -> httpx.Response:
    """A transport whose every request fails to connect."""
    raise httpx.ConnectError("connection refused", request=request)
