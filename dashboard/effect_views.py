"""What a pane's policy removed or changed (``GET /policy/effect``), drawn under its map.

Two stores of one stream look alike on a map, so each comparison pane lists what its policy
did in the window (fields dropped, identities pseudonymized, places generalized, readings
summed into blocks, kinds and face matches not stored) with counts, and one example event
before (as it went over the broker) and after (as stored). The API decides what of the
example the viewer receives: a withheld value is shown as such, never guessed at here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import html

from dashboard import fmt
from dashboard.i18n import _

WITHHELD = "(withheld)"


def action_label(action: str) -> str:
    """A change's name in the interface's language."""
    labels = {
        "drop": _("fields dropped"),
        "pseudonymize": _("identities pseudonymized"),
        "generalize": _("places or times generalized"),
        "aggregate": _("readings summed per block"),
        "drop_event": _("events not stored"),
        "refuse_match": _("matches refused"),
    }
    return labels.get(action, action)


def change_label(change: str) -> str:
    """What happened to one field of the example."""
    labels = {
        "kept": _("kept"),
        "dropped": _("dropped"),
        "pseudonymized": _("pseudonymized"),
        "generalized": _("generalized"),
        "aggregated": _("summed per block"),
    }
    return labels.get(change, change)


def _value(value: Any, change: str | None = None) -> html.Span:
    if change == "dropped" and value is None:
        return html.Span("—", className="effect-gone", title=_("not stored"))
    if value == WITHHELD:
        return html.Span(_("withheld"), className="effect-withheld",
                         title=_("there is a value; your role may not receive it"))  # fmt: skip
    if isinstance(value, Mapping):
        text = ", ".join(f"{k} {v}" for k, v in value.items())
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return html.Span(text, className="effect-value")


def _changes(effect: Mapping[str, Any]) -> html.Table:
    sampled = int(effect.get("wire_sampled") or 0)
    rows = []
    wire_note = False
    for c in effect.get("changes") or []:
        if c.get("stored") is None:
            count = f"{fmt.count(c.get('wire'))} †"
            wire_note = True
        else:
            count = fmt.count(c.get("stored"))
        where = _(" (at the edge)") if c.get("at") == "edge" else ""
        rows.append(
            html.Tr(
                [
                    html.Th(action_label(c.get("action", "")) + where, scope="row"),
                    html.Td(c.get("kind", ""), className="effect-kind"),
                    html.Td(", ".join(c.get("fields") or []) or "–", className="effect-fields"),
                    html.Td(count, className="effect-count"),
                ],
                className=f"effect-row effect-{c.get('action', '')}",
            )
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th(_("Change"), scope="col"),
                html.Th(_("Kind"), scope="col"),
                html.Th(_("Fields"), scope="col"),
                html.Th(_("Events in the window"), scope="col"),
            ]
        )
    )
    parts: list[Any] = [head, html.Tbody(rows)]
    if wire_note:
        note = _("† not stored, so counted in the newest {n} messages on the wire")
        parts.append(html.Tfoot(html.Tr(html.Td(note.format(n=fmt.count(sampled)), colSpan=4))))
    return html.Table(parts, className="effect-table")


def _example(ex: Mapping[str, Any]) -> html.Table:
    outcomes = {
        "changed": _("changed"),
        "not stored": _("not stored"),
        "block aggregate": _("summed into its block"),
    }
    outcome = outcomes.get(ex.get("outcome", ""), "")
    caption = _("One {kind} event, before (on the wire) and after (as stored): {outcome}")
    rows = [
        html.Tr(
            [
                html.Th(f.get("name", ""), scope="row", title=f.get("category", "")),
                html.Td(_value(f.get("before"))),
                html.Td(_value(f.get("after"), f.get("change"))),
                html.Td(
                    change_label(f.get("change", "")),
                    className=f"effect-change effect-change-{f.get('change', '')}",
                ),
            ]
        )
        for f in ex.get("fields") or []
    ]
    head = html.Thead(
        html.Tr(
            [
                html.Th(_("Field"), scope="col"),
                html.Th(_("Before"), scope="col"),
                html.Th(_("After"), scope="col"),
                html.Th(_("What the policy did"), scope="col"),
            ]
        )
    )
    return html.Table(
        [html.Caption(caption.format(kind=ex.get("kind", ""), outcome=outcome)), head,
         html.Tbody(rows)],
        className="effect-table effect-example",
    )  # fmt: skip


def effect_panel(effect: Mapping[str, Any], error: str | None = None) -> list[Any]:
    """The children of a pane's effect box: what its policy changed, or why it cannot say."""
    policy = effect.get("policy") or "?"
    title = html.H3(
        _("What {policy} removed or changed in this window").format(policy=policy),
        className="effect-title",
    )
    if error and not effect.get("policy"):
        return [html.H3(_("What the policy changed"), className="effect-title"),
                html.Div(error, className="effect-empty")]  # fmt: skip
    if not effect.get("changes"):
        return [title, html.Div(_("Nothing: every event is stored as sent."),
                                className="effect-empty effect-none")]  # fmt: skip
    out: list[Any] = [title, _changes(effect)]
    ex = effect.get("example")
    if ex:
        out.append(_example(ex))
    else:
        out.append(html.Div(_("No example on the wire right now."), className="effect-empty"))
    return out
