"""Live votes on the dilemma cards: each logged-in person votes once per card (and may change
their mind); the teacher sees the tally, and it goes into the debrief.

Votes are a classroom matter, not data about the town: they are kept by the dashboard in
``var/votes.json`` (owner only), one choice per card and account, and only counts are ever
shown or exported, never who voted what.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from html import escape
from pathlib import Path

CHOICES = ("keep", "limits", "drop")  # keep / keep with limits / do not collect


class VoteError(ValueError):
    """A vote on an unknown choice or card."""


class VoteBook:
    """Votes by card and account, written through to a file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._votes: dict[str, dict[str, str]] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads(path.read_text())
                self._votes = {
                    str(card): {str(u): c for u, c in who.items() if c in CHOICES}
                    for card, who in loaded.items()
                    if isinstance(who, dict)
                }

    def cast(self, card: str, user: str, choice: str) -> None:
        """``user``'s vote on ``card`` (a new one replaces theirs)."""
        if choice not in CHOICES:
            raise VoteError(f"choice {choice!r}: one of {', '.join(CHOICES)}")
        if not card or len(card) > 64 or not user:
            raise VoteError("a vote needs a card and a logged-in user")
        with self._lock:
            self._votes.setdefault(card, {})[user] = choice
            self._save()

    def mine(self, user: str) -> dict[str, str]:
        """``user``'s own votes, card -> choice."""
        with self._lock:
            return {card: who[user] for card, who in self._votes.items() if user in who}

    def tally(self) -> dict[str, dict[str, int]]:
        """Counts per card and choice (every choice present, zero included)."""
        with self._lock:
            return {
                card: {c: sum(1 for v in who.values() if v == c) for c in CHOICES}
                for card, who in self._votes.items()
            }

    def clear(self) -> None:
        """Forget every vote (a new lesson)."""
        with self._lock:
            self._votes.clear()
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self._votes, f)
        os.replace(tmp, self.path)


def tally_html(tally: dict[str, dict[str, int]], labels: dict[str, str], title: str) -> str:
    """The tally as an HTML section, for the debrief."""
    rows = "".join(
        f"<tr><td>{escape(card)}</td>"
        + "".join(f"<td>{t.get(c, 0)}</td>" for c in CHOICES)
        + "</tr>"
        for card, t in sorted(tally.items())
    )
    head = "".join(f"<th>{escape(labels[c])}</th>" for c in CHOICES)
    body = rows or f'<tr><td colspan="{len(CHOICES) + 1}">-</td></tr>'
    return (
        f'<section id="votes"><h2>{escape(title)}</h2>'
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def with_tally(debrief: str, section: str) -> str:
    """The debrief's HTML with the votes section before its end."""
    at = debrief.rfind("</body>")
    return debrief + section if at < 0 else debrief[:at] + section + debrief[at:]
