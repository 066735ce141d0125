"""The audit log: append-only, keyed hash chain, anchored outside the database, verifiable.

Each row's hash is ``HMAC-SHA256(key, prev_hash + "\\n" + canonical JSON of the row)``, the
first row's ``prev_hash`` being :data:`GENESIS`. The key is derived from the API's secret
(never in the database), so whoever can write the table cannot forge a valid chain. Editing,
inserting or deleting a row in the middle breaks the chain at that row; :func:`verify` finds
the first broken one. The newest (id, hash) is also written to an anchor file outside the
database (``var/audit.head``) after each append, so a deleted tail or an emptied table,
which leave a shorter chain that holds, is caught by :func:`check_anchor` (at start and on
every Transparency view). The migrations install triggers that refuse UPDATE, DELETE and
(PostgreSQL) TRUNCATE on the table. A log written before the chain was keyed (plain
SHA-256) verifies as broken at its first entry: start such a store afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, make_url, select
from sqlalchemy.exc import IntegrityError

from services.events import KINDS
from services.events.contract import Privacy
from services.store.models import audit_log

GENESIS = "0" * 64
APPEND_TRIES = 50
UNKEYED = hashlib.sha256(b"aqkol audit chain: no key configured").digest()
ANCHOR_PREFIX = "audit.head"
_lock = threading.Lock()  # one writer per process; the unique prev_hash guards across processes
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keying:
    """The chain's key and anchor file for one database."""

    key: bytes
    anchor: Path | None


_keying: dict[str, Keying] = {}


def _db(engine_or_conn: Any) -> str:
    engine = getattr(engine_or_conn, "engine", engine_or_conn)
    return engine.url.render_as_string(hide_password=True)


def anchor_path(var_dir: Path, engine: Engine | str) -> Path:
    """The anchor file of a database (an engine, or its URL) in ``var_dir``: one per
    database, so that a comparison lane beside the main store keeps its own."""
    if isinstance(engine, str):
        from services.store.db import normalize_url

        name = make_url(normalize_url(engine)).render_as_string(hide_password=True)
    else:
        name = _db(engine)
    tag = hashlib.sha256(name.encode()).hexdigest()[:12]
    return var_dir / f"{ANCHOR_PREFIX}.{tag}.json"


def forget_anchor(var_dir: Path, url: str) -> None:
    """Drop the anchor of a store that is deliberately started afresh (``aqkol up``)."""
    anchor_path(var_dir, url).unlink(missing_ok=True)


def configure(engine: Engine, secret: str, anchor: Path | None) -> None:
    """Key the chain of ``engine``'s database (from ``secret``) and anchor its head in
    ``anchor`` (a file outside the database)."""
    key = hmac.new(secret.encode(), b"aqkol audit chain", hashlib.sha256).digest()
    _keying[_db(engine)] = Keying(key, anchor)


def _keyed(engine_or_conn: Any) -> Keying:
    return _keying.get(_db(engine_or_conn)) or Keying(UNKEYED, None)


def _canonical(value: Any) -> Any:
    """``value`` as the JSON column will give it back."""
    return orjson.loads(orjson.dumps(value, default=str))


def content_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: Any,
    key: bytes | None = UNKEYED,
) -> str:
    """The keyed hash of one row given its predecessor's (``key=None``: plain SHA-256, as
    before the chain was keyed; kept to show in a test what a forger could recompute)."""
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "role": role,
        "action": action,
        "target": target,
        "detail": _canonical(detail),
    }
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    message = prev_hash.encode() + b"\n" + text
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


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
    keying = _keyed(engine)
    with _lock:
        for _ in range(APPEND_TRIES):
            now = at or datetime.now(UTC)
            try:
                with engine.begin() as conn:
                    prev = conn.execute(
                        select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
                    ).scalar()
                    prev = prev or GENESIS
                    digest = content_hash(
                        prev, now, actor, role, action, target, detail, keying.key
                    )
                    row_id = conn.execute(
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
            if keying.anchor is not None:
                try:
                    write_anchor(keying.anchor, row_id, digest)
                except OSError as exc:  # the entry is written; only the anchor lags behind
                    log.error("audit log: could not anchor entry %s: %s", row_id, exc)
            return row_id
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
    """Walk the chain from the first row, then compare its end with the anchor; report the
    first row that does not hold, or the cut end."""
    keying = _keyed(conn)
    prev, n, last_id = GENESIS, 0, 0
    rows = conn.execution_options(yield_per=2000).execute(
        select(audit_log).order_by(audit_log.c.id)
    )
    for r in rows:
        n += 1
        if r.prev_hash != prev:
            reason = "does not follow the entry before it (an entry was removed or inserted)"
            return ChainStatus(False, n, prev, r.id, reason)
        expected = content_hash(
            prev, r.at, r.actor, r.role, r.action, r.target, r.detail, keying.key
        )
        if expected != r.hash:
            return ChainStatus(False, n, prev, r.id, "content changed after it was written")
        prev, last_id = r.hash, r.id
    if keying.anchor is not None:
        cut = check_anchor(conn, keying.anchor)
        if cut is not None:
            return ChainStatus(False, n, prev, last_id or None, cut)
    return ChainStatus(True, n, prev)


def write_anchor(path: Path, row_id: int, digest: str) -> None:
    """Record the newest (id, hash) outside the database, if it is newer than the one there."""
    old = read_anchor(path)
    if old is not None and old[0] >= row_id:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_bytes(orjson.dumps({"id": row_id, "hash": digest}))
    os.replace(tmp, path)


def read_anchor(path: Path) -> tuple[int, str] | None:
    """The anchored (id, hash), or None when nothing was anchored yet."""
    try:
        head = orjson.loads(path.read_bytes())
        return int(head["id"]), str(head["hash"])
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return (2**62, "unreadable")  # a damaged anchor is itself a finding


def check_anchor(conn: Connection, path: Path) -> str | None:
    """Why the table does not reach the anchored head (a deleted tail, an emptied table), or
    None when it does."""
    head = read_anchor(path)
    if head is None:
        return None
    row_id, digest = head
    found = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == row_id)).scalar()
    if found is None:
        return (
            f"the chain ends before entry {row_id}, the head anchored outside the database "
            f"({path.name}): its newest entries were removed or the table was emptied"
        )
    if found != digest:
        return f"entry {row_id} differs from the head anchored outside the database"
    return None


def check_at_start(engine: Engine) -> ChainStatus:
    """Verify the chain and its anchor when a service starts; log loudly when cut."""
    with engine.connect() as conn:
        status = verify(conn)
    if not status.ok:
        log.error("audit log: %s (entry %s)", status.reason, status.broken_id)
    return status


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
    # (the citizen view is logged as an act, citizen.reveal, with its justification)
    return path in (
        "/alerts",
        "/classroom/replay",
        "/classroom/cameras",
        "/dead-letters",
        "/wire/sample",  # raw messages on the broker, before the policy's ingest part
        "/policy/effect",  # an example event before and after the policy
    )
