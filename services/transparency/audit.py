"""The audit log: append-only, hash-chained, verifiable.

Each row's hash is ``sha256(prev_hash + "\\n" + canonical JSON of the row's content)``, the
first row's ``prev_hash`` being :data:`GENESIS`. Editing, inserting or deleting a row in the
middle breaks the chain at that row; :func:`verify` finds the first broken one. Deleting the
newest rows leaves a shorter valid chain: note down the ``head`` hash to notice that too.
The migration also installs triggers that refuse UPDATE and DELETE on the table.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from services.events import KINDS
from services.events.contract import Privacy
from services.store.models import audit_log

GENESIS = "0" * 64
APPEND_TRIES = 50
_lock = threading.Lock()  # one writer per process; the unique prev_hash guards across processes


def _canonical(value: Any) -> Any:
    """``value`` as the JSON column will give it back."""
    return orjson.loads(orjson.dumps(value, default=str))


def content_hash(
    prev_hash: str, at: datetime, actor: str, role: str, action: str, target: str, detail: Any
) -> str:
    """The hash of one row given its predecessor's."""
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "detail": _canonical(detail),
    }
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + text).hexdigest()


def append(
    engine: Engine,
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Add one entry at the end of the chain; its id."""
    detail, target = _canonical(detail or {}), target[:256]
    with _lock:
        for _ in range(APPEND_TRIES):
            now = at or datetime.now(UTC)
            try:
                with engine.begin() as conn:
                    prev = conn.execute(
                        select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
                    ).scalar()
                    prev = prev or GENESIS
                    digest = content_hash(prev, now, actor, role, action, target, detail)
                    return conn.execute(
                        insert(audit_log).values(
                            at=now,
                            actor=actor,
                            role=role,
                            action=action,
                            target=target,
                            detail=detail,
                            prev_hash=prev,
                            hash=digest,
                        )
                    ).inserted_primary_key[0]
            except IntegrityError:
                continue  # another process appended after the same row: link to theirs
    raise RuntimeError(f"could not append to the audit log after {APPEND_TRIES} tries")


@dataclass(frozen=True)
class ChainStatus:
    """The verdict on the whole chain."""

    ok: bool
    entries: int
    head: str
    broken_id: int | None = None
    reason: str | None = None


def verify(conn: Connection) -> ChainStatus:
    """Walk the chain from the first row; report the first row that does not hold."""
    prev, n = GENESIS, 0
    rows = conn.execution_options(yield_per=2000).execute(
        select(audit_log).order_by(audit_log.c.id)
    )
    for r in rows:
        n += 1
        if r.prev_hash != prev:
            reason = "does not follow the entry before it (an entry was removed or inserted)"
            return ChainStatus(False, n, prev, r.id, reason)
        expected = content_hash(prev, r.at, r.actor, r.role, r.action, r.target, r.detail)
        if expected != r.hash:
            return ChainStatus(False, n, prev, r.id, "content changed after it was written")
        prev = r.hash
    return ChainStatus(True, n, prev)


READ_ACTIONS = ("query", "view.end")  # reads of personal data; everything else is an act


def entries(
    conn: Connection,
    *,
    limit: int | None = 100,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    reads: bool = True,
) -> list[dict[str, Any]]:
    """The newest entries first (``before``: ids below it, for paging; ``reads=False``: only
    acts, i.e. reveals, changes and the teacher's controls, however many reads there are)."""
    q = select(audit_log).order_by(audit_log.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    if before is not None:
        q = q.where(audit_log.c.id < before)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action == action)
    if not reads:
        q = q.where(audit_log.c.action.not_in(READ_ACTIONS))
    return [dict(r._mapping) for r in conn.execute(q)]


def record(request_state: Any, engine: Engine, action: str, target: str, detail: Any) -> None:
    """Append an act of the logged-in user (``request.state``) to the log."""
    user = getattr(request_state, "user", None)
    actor, role = (user.username, str(user.role)) if user is not None else ("anonymous", "")
    append(engine, actor, role, action, target, detail)


def acts(conn: Connection) -> list[dict[str, Any]]:
    """Every reveal, change and teacher's control, newest first, whatever the volume of reads."""
    return entries(conn, limit=None, reads=False)


VOLATILE = frozenset({"at", "until", "since", "cursor"})  # a refresh moves these, not the view
SESSION_IDLE_S = 600.0


@dataclass
class _Session:
    entry: int
    first: datetime
    last: datetime
    reads: int = 1


class ViewSessions:
    """Reads of personal data as viewing sessions: the first read of a view (who, what, with
    which filters) is one entry; refreshes of the same view add none while the viewer keeps
    reading; when the view has been idle for ``idle_s`` its end is written (``view.end``:
    from when to when, how many reads). So an open situation-room tab costs two entries per
    sitting, not one per refresh."""

    def __init__(self, idle_s: float = SESSION_IDLE_S) -> None:
        self.idle_s = idle_s
        self._open: dict[tuple[Any, ...], _Session] = {}
        self._lock = threading.Lock()

    def read(
        self,
        engine: Engine,
        actor: str,
        role: str,
        target: str,
        params: dict[str, str],
        *,
        now: datetime | None = None,
    ) -> None:
        """Record one read: a new entry only when it starts a view."""
        now = now or datetime.now(UTC)
        view = tuple(sorted((k, v) for k, v in params.items() if k not in VOLATILE))
        key = (actor, role, target, view)
        with self._lock:
            self._close_idle(engine, now)
            session = self._open.get(key)
            if session is not None:
                session.last, session.reads = now, session.reads + 1
                return
            detail = {"params": params} if params else {}
            entry = append(engine, actor, role, "query", target, detail, at=now)
            self._open[key] = _Session(entry, now, now)

    def close_all(self, engine: Engine, now: datetime | None = None) -> None:
        """Write the end of every open view (at shutdown)."""
        with self._lock:
            self._close_idle(engine, now or datetime.now(UTC), idle_s=-1.0)

    def _close_idle(self, engine: Engine, now: datetime, idle_s: float | None = None) -> None:
        idle = self.idle_s if idle_s is None else idle_s
        for key, s in list(self._open.items()):
            if (now - s.last).total_seconds() > idle:
                del self._open[key]
                actor, role, target, _view = key
                detail = {"opened": s.entry, "from": s.first.isoformat(),
                          "to": s.last.isoformat(), "reads": s.reads}  # fmt: skip
                append(engine, actor, role, "view.end", target, detail, at=now)


def count(conn: Connection) -> int:
    """How many entries the log holds."""
    return conn.execute(select(func.count()).select_from(audit_log)).scalar_one()


def identifying_kinds() -> frozenset[str]:
    """Kinds whose data or source can point at a person (an identifier field or source)."""
    return frozenset(
        kind
        for kind, model in KINDS.items()
        if Privacy.IDENTIFIER in model.privacy().values()
        or Privacy.SENSITIVE in model.privacy().values()
        or model.SOURCE_PRIVACY == Privacy.IDENTIFIER
    )


def personal_query(method: str, path: str, params: dict[str, str]) -> bool:
    """Whether an API read touches personal data and so goes into the audit log."""
    if (method, path) == ("POST", "/rules/preview"):
        return True  # a replay of the stored day: its alerts carry the keys of people
    if method not in ("GET", "HEAD"):
        return False
    if path in ("/events", "/events/latest"):
        kind = params.get("kind")
        return not kind or kind in identifying_kinds()  # an empty kind reads every kind
    # alert details name sources, watch-list matches, households; the citizen view is all
    # that is held about one person; a dead letter holds what the ingest refused, as sent
    return path in (
        "/alerts",
        "/citizen",
        "/classroom/replay",
        "/classroom/cameras",
        "/dead-letters",
    )
