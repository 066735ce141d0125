"""What the Transparency page shows, as pure functions of the API's answers."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard import fmt
from dashboard.api_client import Data, Fetched
from dashboard.i18n import _, ngettext

CATEGORY_ORDER = ("identifier", "sensitive", "quasi", "telemetry")


def chain_status(fetched: Fetched[Data]) -> tuple[str, str]:
    """The verdict on the audit chain and its CSS class (ok, broken, unknown)."""
    if not fetched.ok:
        return _("Chain not checked: {error}").format(error=fetched.error), "chain unknown"
    c = fetched.data
    entries = int(c.get("entries", 0) or 0)
    if c.get("ok"):
        head = (c.get("head") or "")[:16]
        text = ngettext(
            "Chain intact: {entries} entry, head {head}…",
            "Chain intact: {entries} entries, head {head}…",
            entries,
        )
        return text.format(entries=fmt.count(entries), head=head), "chain ok"
    text = ngettext(
        "Chain BROKEN at entry #{id}: {reason} ({entries} entry checked)",
        "Chain BROKEN at entry #{id}: {reason} ({entries} entries checked)",
        entries,
    )
    return (
        text.format(id=c.get("broken_id"), reason=c.get("reason"), entries=fmt.count(entries)),
        "chain broken",
    )


def _summary(entry: dict[str, Any]) -> str:
    d = entry.get("detail") or {}
    if entry.get("action", "").startswith("reveal"):
        parts = [d.get("legal_basis"), d.get("justification"), d.get("why")]
        if d.get("grant"):
            parts.append(_("grant {id}").format(id=d["grant"]))
        return " · ".join(str(p) for p in parts if p)
    params = d.get("params") or {}
    return ", ".join(f"{k}={v}" for k, v in params.items())


def audit_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the audit table, newest first as the API gives them."""
    rows = []
    for e in items:
        rows.append(
            {
                "id": e.get("id"),
                "at": fmt.stamp(e.get("at")),
                "actor": e.get("actor", ""),
                "role": e.get("role", ""),
                "action": e.get("action", ""),
                "target": e.get("target", ""),
                "why": _summary(e),
            }
        )
    return rows


def _count(value: Any) -> str:
    return fmt.count(value) if isinstance(value, int | float) else str(value or "")


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
        (_("Purpose"), f"{device.get('purpose', '')}: {device.get('purpose_text', '')}"),
        (_("Technology"), device.get("technology", "")),
        (_("How many"), _count(device.get("count"))),
        (_("Retention"), device.get("retention", "")),
        (_("Accountable"), f"{acc.get('body', '')} ({acc.get('contact', '')})"),
        (_("Access"), device.get("access", "")),
        (_("Storage"), device.get("storage", "")),
    ]
    items: list[Any] = []
    for term, value in rows:
        items += [html.Dt(term), html.Dd(value)]
    children: list[Any] = [html.H3(device.get("name", device.get("id", ""))), html.Dl(items), *data]
    if device.get("notes"):
        children.append(html.P(device["notes"], className="device-notes"))
    return html.Article(children, className="device", id=f"device-{device.get('id')}")
