"""Linkage of gas payments to bank accounts and to people.

Under a policy that stores the household and the account in the clear (with the payment or
with each gas reading), the analyst links every such account to its household, and through
the household's size to a person where one lives alone. A link is counted when it matches
the truth (pseudonyms link only to one another: they are counted apart, as re-identifiable
by the key holder, not by the analyst).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from services.lab.registry import register


def _pairs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [
        f[["account", "household"]]
        for f in frames
        if not f.empty and {"account", "household"} <= set(f.columns)
    ]
    if not parts:
        return pd.DataFrame({"account": [], "household": []})
    return pd.concat(parts).dropna().drop_duplicates()


def linkage(frames: list[pd.DataFrame], households: pd.DataFrame) -> dict[str, float]:
    """``frames``: kept events with account and household columns (payments, gas readings);
    ``households``: the truth (id, account, residents)."""
    truth = households.dropna(subset=["account"])
    accounts = len(truth)
    pairs = _pairs(frames)
    hit = pairs.merge(truth, left_on=["account", "household"], right_on=["account", "id"])
    linked = hit["id"].nunique()
    pinned = int((hit.drop_duplicates("id")["residents"] == 1).sum())
    pseudo = len(pairs) - len(hit)
    total_res = int(households["residents"].sum()) or 1
    return {
        "accounts_linked": linked / accounts if accounts else 0.0,
        "residents_linked": float(hit.drop_duplicates("id")["residents"].sum()) / total_res,
        "persons_pinned": pinned / accounts if accounts else 0.0,
        "pseudonymous_links": float(pseudo),
    }


NAMES = tuple(
    f"linkage_{k}"
    for k in ("accounts_linked", "residents_linked", "persons_pinned", "pseudonymous_links")
)


@register("linkage", NAMES, inputs=("kept",))
def measure(ctx: Any) -> None:
    f = ctx.frames
    lk = linkage(
        [f.get("payment.gas", ctx.empty), f.get("gas.reading", ctx.empty)], ctx.day.households
    )
    for k, v in lk.items():
        ctx.put(f"linkage_{k}", v)
