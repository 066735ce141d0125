"""The wire view's pieces (the page is ``dashboard/pages/wire.py``): a raw message drawn with
each field coloured by its privacy category."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.i18n import N_, _

CATEGORIES = {  # the contract's privacy categories, as the legend names them
    "identifier": N_("identifier"),
    "sensitive": N_("sensitive"),
    "quasi": N_("quasi"),
    "telemetry": N_("telemetry"),
}


def _category(name: str) -> str:
    return _(CATEGORIES[name]) if name in CATEGORIES else name


def message_view(msg: dict[str, Any]) -> html.Div:
    """One raw message: its topic, then each field coloured by its category."""
    fields = [
        html.Span(
            f"{f['name']}={f['value']}" if not f.get("withheld") else f"{f['name']}=…",
            className=f"wire-field wire-{f.get('category', 'identifier')}",
            title=_category(f.get("category", "")),
        )
        for f in msg.get("fields", [])
    ]
    return html.Div([html.Code(msg.get("topic", ""), className="wire-topic"), *fields],
                    className="wire-msg")  # fmt: skip
