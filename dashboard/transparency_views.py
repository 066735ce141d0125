"""What the Transparency page shows, as pure functions of the API's answers."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard import fmt
from dashboard.api_client import Chain, Fetched

CATEGORY_ORDER = ("identifier", "sensitive", "quasi", "telemetry")


def chain_status(fetched: Fetched[Chain]) -> tuple[str, str]:
    """The verdict on the audit chain and its CSS class (ok, broken, unknown)."""
    if not fetched.ok:
        return f"Chain not checked: {fetched.error}", "chain unknown"
    c = fetched.data
    if c.get("ok"):
        head = (c.get("head") or "")[:16]
        return f"Chain intact: {c.get('entries', 0):,} entries, head {head}…", "chain ok"
    return (
        f"Chain BROKEN at entry #{c.get('broken_id')}: {c.get('reason')} "
        f"({c.get('entries', 0):,} entries checked)",
        "chain broken",
    )


def _summary(entry: dict[str, Any]) -> str:
    d = entry.get("detail") or {}
    if entry.get("action", "").startswith("reveal"):
        parts = [d.get("legal_basis"), d.get("justification"), d.get("why")]
        if d.get("grant"):
            parts.append(f"grant {d['grant']}")
        return " · ".join(str(p) for p in parts if p)
    params = d.get("params") or {}
    return ", ".join(f"{k}={v}" for k, v in params.items())


def audit_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the audit table, newest first as the API gives them."""
    rows = []
    for e in items:
        at = fmt.local(e.get("at"))
        rows.append(
            {
                "id": e.get("id"),
                "at": at.strftime("%Y-%m-%d %H:%M:%S") if at else "",
                "actor": e.get("actor", ""),
                "role": e.get("role", ""),
                "action": e.get("action", ""),
                "target": e.get("target", ""),
                "why": _summary(e),
            }
        )
    return rows


def _fields(kind: dict[str, Any]) -> list[html.Span]:
    fields = sorted(
        kind.get("fields", []),
        key=lambda f: CATEGORY_ORDER.index(f["category"]) if f["category"] in CATEGORY_ORDER else 9,
    )
    return [
        html.Span(
            f"{f['name']} ({f['category']})",
            title=f.get("description") or "",
            className=f"field-chip {f['category']}",
        )
        for f in fields
    ]


def device_card(device: dict[str, Any]) -> html.Article:
    """One device of the register, as signage would show it."""
    data = [
        html.Div([html.B(k["kind"]), " ", *_fields(k)], className="device-kind")
        for k in device.get("data", [])
    ]
    acc = device.get("accountable") or {}
    rows = [
        ("Purpose", f"{device.get('purpose', '')}: {device.get('purpose_text', '')}"),
        ("Technology", device.get("technology", "")),
        ("How many", str(device.get("count", ""))),
        ("Retention", device.get("retention", "")),
        ("Accountable", f"{acc.get('body', '')} ({acc.get('contact', '')})"),
        ("Access", device.get("access", "")),
        ("Storage", device.get("storage", "")),
    ]
    items: list[Any] = []
    for term, value in rows:
        items += [html.Dt(term), html.Dd(value)]
    children: list[Any] = [html.H3(device.get("name", device.get("id", ""))), html.Dl(items), *data]
    if device.get("notes"):
        children.append(html.P(device["notes"], className="device-notes"))
    return html.Article(children, className="device", id=f"device-{device.get('id')}")
