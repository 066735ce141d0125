"""Which policy is in force: the policy files, and the history of switches in the database.

One policy is active per deployment. It is the newest row of ``policy_history`` (written by
``aqkol policy use``, ``PUT /policy/active`` or ``aqkol up``), or ``AQKOL_POLICY`` (default
``none``) before any switch. Every ingest worker reads it before each batch, so a switch
takes effect within a batch, for every worker, without a restart; the history says which
policy was active when (wall clock and simulated time).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from services.filebook import FileBook
from services.policy.spec import PolicyError, PolicySpec, parse_policy
from services.store.models import policy_history
from services.store.repo import now_utc, sim_time

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


class PolicyBook(FileBook[PolicySpec]):
    """The policies of one folder, with the last good version of each file."""

    def __init__(self, folder: Path | str = POLICIES_DIR):
        super().__init__(folder, parse_policy, lambda p: p.id, PolicyError)

    def spec(self, policy_id: str) -> PolicySpec:
        found = self.get(policy_id)
        if found is None or found[1] is None:
            known = ", ".join(p.id for p in self.items)
            why = f": {found[2]}" if found and found[2] else f" (known: {known})"
            raise PolicyError(
                str(self.folder / f"{policy_id}.yaml"), None, f"no usable policy{why}"
            )
        return found[1]

    def sha256(self, policy_id: str) -> str:
        found = self.get(policy_id)
        if found is None:
            return ""
        return hashlib.sha256(found[0].read_bytes()).hexdigest()


def active_policy(conn: Connection, default: str = "none") -> tuple[str, int]:
    """(policy id, history row id; 0 if never switched)."""
    row = conn.execute(
        select(policy_history.c.id, policy_history.c.policy)
        .order_by(policy_history.c.id.desc())
        .limit(1)
    ).first()
    return (row.policy, row.id) if row else (default, 0)


def activate(
    conn: Connection, book: PolicyBook, policy_id: str, by: str, note: str | None = None
) -> dict[str, Any]:
    """Make ``policy_id`` the active policy (it must load); returns the history row."""
    book.refresh()
    book.spec(policy_id)  # raises PolicyError if missing or refused
    row = {
        "policy": policy_id,
        "sha256": book.sha256(policy_id),
        "activated_at": now_utc(),
        "sim_time": sim_time(conn),
        "activated_by": by[:64],
        "note": (note or "")[:256] or None,
    }
    row["id"] = conn.execute(policy_history.insert().values(**row)).inserted_primary_key[0]
    return row


def history(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(policy_history).order_by(policy_history.c.id.desc()).limit(limit)
    ).all()
    return [dict(r._mapping) for r in rows]


def active_at(conn: Connection, when: datetime, default: str = "none") -> str:
    """The policy that was active at simulated time ``when``."""
    row = conn.execute(
        select(policy_history.c.policy)
        .where(policy_history.c.sim_time <= when)
        .order_by(policy_history.c.id.desc())
        .limit(1)
    ).first()
    return row.policy if row else default
