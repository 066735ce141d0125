"""Dilemma cards: questions for the class, each tied to a figure the command center holds now.

Pure builders from the API's answers (``/stats``, ``/alerts``, ``/classroom/metrics``), so a
card's figure is the live one when the class discusses it. The lessons (docs/lessons/) say
when to show which card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dash import html

from dashboard import fmt
from dashboard.i18n import _
from dashboard.votes import CHOICES


@dataclass(frozen=True)
class Card:
    """One dilemma: a live figure, what it counts, and the question."""

    key: str
    figure: str
    counts: str
    question: str
    lesson: str


def cards(
    stats: Mapping[str, Any],
    alerts: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any] | None = None,
) -> list[Card]:
    """The cards, with the figures of now (``metrics``, the teacher's, adds the truth)."""
    by_kind = stats.get("by_kind") or {}
    faces = int(by_kind.get("camera.face_match", 0))
    activist = sum(1 for a in alerts if a.get("rule") == "watchlist-activist")
    out = [
        Card(
            "faces",
            fmt.count(faces),
            _("face matches against watch lists are stored now"),
            _("Should the command center keep them? For how long, and who may search them?"),
            "1, 3",
        ),
        Card(
            "gas",
            fmt.count(by_kind.get("gas.reading", 0)),
            _("gas meter readings, one per household every 30 minutes"),
            _(
                "They show when a family is at home, asleep or away. Who may see them: the "
                "gas company, the akimat, the police?"
            ),
            "1, 3",
        ),
        Card(
            "entries",
            fmt.count(by_kind.get("access.entry", 0)),
            _("face-ID turnstile passes at the school and the akimat"),
            _("A log of who came in when: keep it for a day, a month, or not at all?"),
            "1",
        ),
        Card(
            "activist",
            fmt.count(activist),
            _('alerts from the "activist" watch list (a MISUSE demonstration)'),
            _(
                "Should a city keep a list of people for their opinions? What would you do as "
                "the analyst who receives this alert?"
            ),
            "2",
        ),
    ]
    if metrics and metrics.get("truth"):
        out.insert(
            1,
            Card(
                "false",
                f"{fmt.count(metrics.get('matches_false'))} / {fmt.count(faces)}",
                _("of the stored matches were false: innocent people (ground truth, teacher only)"),
                _(
                    "Each false match can mean a stop by the police. Is the system worth it at "
                    "this error rate? Who pays for the errors?"
                ),
                "2",
            ),
        )
    return out


def choice_labels() -> dict[str, str]:
    """The three answers to every card, in the page's language."""
    return {"keep": _("Keep"), "limits": _("Keep with limits"), "drop": _("Do not collect")}


def vote_buttons(card: Card, mine: str | None = None) -> html.Div:
    """Keep / keep with limits / do not collect, for one card (``mine`` pressed)."""
    labels = choice_labels()
    return html.Div(
        [
            html.Button(
                labels[choice],
                id={"type": "dilemma-vote", "card": card.key, "choice": choice},
                n_clicks=0,
                className="btn vote-btn" + (" vote-mine" if choice == mine else ""),
                **{"aria-pressed": "true" if choice == mine else "false"},
            )
            for choice in CHOICES
        ],
        className="dilemma-votes",
        role="group",
        **{"aria-label": _("Your vote")},
    )


def tally_view(card: Card, tally: Mapping[str, int] | None) -> html.Div:
    """The class's votes on one card (the teacher's view)."""
    labels = choice_labels()
    counts = tally or {}
    return html.Div(
        [html.Span(f"{labels[c]}: {counts.get(c, 0)}", className=f"tally-{c}") for c in CHOICES],
        className="dilemma-tally",
        id=f"dilemma-tally-{card.key}",
    )


def card_view(
    card: Card, *, mine: str | None = None, tally: Mapping[str, int] | None = None,
    show_tally: bool = False,
) -> html.Div:  # fmt: skip
    """One card as HTML, with its vote buttons (and the tally, for the teacher)."""
    return html.Div(
        [
            html.Div(card.figure, className="dilemma-figure"),
            html.Div(card.counts, className="dilemma-counts"),
            html.P(card.question, className="dilemma-question"),
            vote_buttons(card, mine),
            *([tally_view(card, tally)] if show_tally else []),
            html.Div(_("lesson {n}").format(n=card.lesson), className="wall-note"),
        ],
        className="dilemma",
        id=f"dilemma-{card.key}",
    )
