"""The wire view's pieces (the page is ``dashboard/pages/wire.py``): a raw message drawn with
each field coloured by its privacy category."""

from __future__ import annotations

from typing import Any

from dash import html


def message_view(msg: dict[str, Any]) -> html.Div:
    """One raw message: its topic, then each field coloured by its category."""
    fields = [
        html.Span(
            f"{f['name']}={f['value']}" if not f.get("withheld") else f"{f['name']}=…",
            className=f"wire-field wire-{f.get('category', 'identifier')}",
            title=f.get("category", ""),
        )
        for f in msg.get("fields", [])
    ]
    return html.Div([html.Code(msg.get("topic", ""), className="wire-topic"), *fields],
                    className="wire-msg")  # fmt: skip
