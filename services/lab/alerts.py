"""The starter rules replayed on what a policy keeps: per rule precision, recall, F1 and
minutes to detect (:func:`services.lab.utility.alert_scores`), and the missing-person recall.

The replay itself starts in ``evaluate()`` before the policy step (in forked processes,
while the attacks run); this measure waits for its scores and writes them.
"""

from __future__ import annotations

from typing import Any

from services.lab.registry import register

STATS = ("precision", "recall", "f1", "minutes_to_detect", "alerts", "blinded")


@register("alerts", (*(f"alert_{k}" for k in STATS), "missing_person_recall"), inputs=("alerts",))
def measure(ctx: Any) -> None:
    for s in ctx.alert_scores():
        for k in STATS:
            ctx.put(f"alert_{k}", s[k], rule=s["rule"])
        if s["rule"] == "watchlist-missing" and s["recall"] is not None:
            ctx.put("missing_person_recall", s["recall"])
