"""Queries shared by the ingest and the API (SQLAlchemy Core, portable SQLite/PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, func, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.events.contract import KINDS
from services.events.geo import STORE_H3_RES, cell_of
from services.store.models import (
    aggregate_members,
    alerts,
    dead_letters,
    events,
    heat_rollup,
    rule_status,
)

DEAD_LETTER_PAYLOAD_MAX = 4096  # bytes of a bad payload kept for diagnosis
_CHUNK = 900  # below SQLite's bound-parameter limits
ROLLUP_SPANS = (300, 3600, 21600, 86400)  # heat_rollup bucket lengths, s (migration 0007)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How a batch goes into PostgreSQL (BENCHMARKS.md, "PostgreSQL write path"): "copy" (COPY
# into a staging table, then one INSERT ... ON CONFLICT DO NOTHING) or "executemany".
PG_WRITE = "copy"


def now_utc() -> datetime:
    """Wall-clock time, aware UTC."""
    return datetime.now(UTC)


_VALUE_FIELD = {k: cls.VALUE_FIELD for k, cls in KINDS.items()}
_CELLS: dict[tuple[float, float], str] = {}  # (lat, lon) -> cell: most sensors stay put
_CELLS_MAX = 100_000


def _store_cell(lat: float, lon: float) -> str:
    key = (lat, lon)
    cell = _CELLS.get(key)
    if cell is None:
        if len(_CELLS) >= _CELLS_MAX:
            _CELLS.clear()  # moving vehicles: bounded
        cell = _CELLS[key] = cell_of(lat, lon, STORE_H3_RES)
    return cell


def stored_row(
    id: str,
    kind: str,
    source: str,
    ts: datetime,
    lat: float | None,
    lon: float | None,
    data: dict[str, Any],
    received_at: datetime,
) -> dict[str, Any]:
    """The stored form of an event (after the policy): ``data`` as JSON text, its cell, value."""
    name = _VALUE_FIELD[kind]
    value = data.get(name) if name else None
    return {
        "id": id,
        "kind": kind,
        "source": source,
        "ts": ts,
        "lat": lat,
        "lon": lon,
        "cell": _store_cell(lat, lon) if lat is not None and lon is not None else None,
        "value": float(value) if isinstance(value, int | float) else None,
        "data": orjson.dumps(data).decode(),
        "received_at": received_at,
    }


def _insert(conn: Connection, table: Any) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return pg_insert(table)
    if dialect == "sqlite":
        return sqlite_insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect}")


_SQLITE_EXISTING = "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))"


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are already stored."""
    if not ids:
        return set()
    if conn.dialect.name == "sqlite":
        # one statement with one parameter (the ids as a JSON array), prepared once: the
        # IN list SQLAlchemy expands is compiled anew for every batch
        rows = conn.exec_driver_sql(_SQLITE_EXISTING, (orjson.dumps(list(ids)).decode(),))
        return {i for (i,) in rows}
    found: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        found.update(conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
    return found


def insert_new_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert rows not stored yet (idempotent on id), rolled up; return the rows that were new."""
    unique: dict[str, dict[str, Any]] = {}
    for r in rows:
        unique.setdefault(r["id"], r)
    if not unique:
        return []
    if conn.dialect.name == "postgresql" and PG_WRITE == "copy":
        inserted = _pg_copy(conn, list(unique.values()))  # the database says which were new
        return [r for k, r in unique.items() if k in inserted]
    seen = existing_ids(conn, list(unique))
    new = [r for k, r in unique.items() if k not in seen]
    if new:
        _write_events(conn, new)
        add_to_rollup(conn, new)
    return new


_EVENT_COLUMNS = (
    "id",
    "kind",
    "source",
    "ts",
    "lat",
    "lon",
    "cell",
    "value",
    "data",
    "received_at",
)
_COLS = ", ".join(_EVENT_COLUMNS)
# The driver's own executemany: SQLAlchemy's per-row bind processing cost more than the rest
# of the ingest together (see BENCHMARKS.md). Values are prepared here as the column types
# would; ON CONFLICT / OR IGNORE covers a concurrent worker storing the same id meanwhile.
_SQLITE_INSERT = f"INSERT OR IGNORE INTO events ({_COLS}) VALUES ({', '.join('?' * 10)})"
_PG_INSERT = (
    f"INSERT INTO events ({_COLS}) VALUES ({', '.join(['%s'] * 10)}) ON CONFLICT (id) DO NOTHING"
)
# COPY is the fastest way into PostgreSQL but has no ON CONFLICT: the batch goes into a
# session-private staging table, and one statement moves the rows not stored yet into
# events, rolls exactly those up (every bucket length) and returns their ids, all in the
# batch's own transaction. A redelivered id, or one a second worker stored meanwhile, is
# neither stored nor counted twice.
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS events_in "
    "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_PG_SPANS = ", ".join(f"({s})" for s in ROLLUP_SPANS)
_PG_MOVE = f"""
WITH new AS (
    INSERT INTO events ({_COLS}) SELECT {_COLS} FROM events_in
    ON CONFLICT (id) DO NOTHING
    RETURNING id, kind, cell, ts, value
), rolled AS (
    INSERT INTO heat_rollup (span_s, kind, bucket, cell, n, n_values, total)
    SELECT s.span, new.kind,
           to_timestamp(floor(extract(epoch FROM new.ts) / s.span) * s.span),
           new.cell, count(*), count(new.value), coalesce(sum(new.value), 0)
    FROM new CROSS JOIN (VALUES {_PG_SPANS}) AS s(span)
    WHERE new.cell IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (span_s, kind, bucket, cell) DO UPDATE SET
        n = heat_rollup.n + excluded.n,
        n_values = heat_rollup.n_values + excluded.n_values,
        total = heat_rollup.total + excluded.total
)
SELECT id FROM new
"""


def _pg_copy(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """COPY ``rows`` into staging, move the new ones into events and the rollup; their ids."""
    raw = conn.connection.driver_connection  # psycopg 3, inside the batch's transaction
    with raw.cursor() as cur:
        cur.execute(_PG_STAGE)
        cur.execute("TRUNCATE events_in")  # a second batch in one transaction starts clean
        with cur.copy(f"COPY events_in ({_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(tuple(r[c] for c in _EVENT_COLUMNS))
        cur.execute(_PG_MOVE)
        return {i for (i,) in cur.fetchall()}


def bucket_of(ts: datetime, span_s: int) -> datetime:
    """The start of the ``span_s`` bucket holding ``ts`` (UTC, exact to the microsecond)."""
    step = timedelta(seconds=span_s)
    return EPOCH + (ts - EPOCH) // step * step


def add_to_rollup(
    conn: Connection,
    rows: Iterable[dict[str, Any]],
    sign: int = 1,
    counted: bool = True,
    spans: Sequence[int] = ROLLUP_SPANS,
) -> None:
    """Add (``sign`` -1: take away) stored rows to heat_rollup; ``counted`` false: values only.

    Rows carry kind, ts, cell and value; a row without a cell is on no heatmap.
    """
    # one dict step per row at the shortest span, then the longer spans from those sums
    # (every span is a multiple of the shortest)
    spans = sorted(spans)
    base = spans[0]
    fine: dict[tuple[str, int, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0])
    for r in rows:
        cell = r["cell"]
        if cell is None:
            continue
        # float epoch seconds are exact to well under a microsecond at today's dates, so
        # the floor lands in the bucket PostgreSQL's exact arithmetic picks
        a = fine[(r["kind"], int(r["ts"].timestamp() // base) * base, cell)]
        if counted:
            a[0] += sign
        v = r["value"]
        if v is not None:
            a[1] += sign
            a[2] += sign * v
    if not fine:
        return
    sqlite = conn.dialect.name == "sqlite"
    starts: dict[int, Any] = {}

    def start(b: int) -> Any:
        s = starts.get(b)
        if s is None:
            s = EPOCH + timedelta(seconds=b)
            s = starts[b] = _sqlite_time(s) if sqlite else s
        return s

    # one parameter set per span and fine bucket: two sets for the same row of a longer
    # span (rare within a batch) are added up by the upsert itself
    params = [
        (span, k, start(b // span * span), c, n, nv, t)
        for span in spans
        for (k, b, c), (n, nv, t) in fine.items()
    ]
    # the driver's executemany, as for events: SQLAlchemy's per-row binding cost more here
    # than the upsert itself
    conn.exec_driver_sql(_ROLLUP_UPSERT.format(p=", ".join(["?" if sqlite else "%s"] * 7)), params)


_ROLLUP_UPSERT = (
    "INSERT INTO heat_rollup (span_s, kind, bucket, cell, n, n_values, total) VALUES ({p}) "
    "ON CONFLICT (span_s, kind, bucket, cell) DO UPDATE SET n = heat_rollup.n + excluded.n, "
    "n_values = heat_rollup.n_values + excluded.n_values, "
    "total = heat_rollup.total + excluded.total"
)


def forget_in_rollup(conn: Connection, kinds: Sequence[str], cutoff: datetime) -> None:
    """Take events of ``kinds`` before ``cutoff`` out of heat_rollup (call before deleting them).

    Buckets wholly before the cutoff go; from the ragged bucket of each length, the events
    about to be deleted are subtracted (a row left at n=0 is on no heatmap).
    """
    ragged = [(span, bucket_of(cutoff, span)) for span in ROLLUP_SPANS]
    earliest = min(b for _s, b in ragged)
    q = select(events.c.kind, events.c.cell, events.c.ts, events.c.value).where(
        events.c.kind.in_(kinds), events.c.ts >= earliest, events.c.ts < cutoff
    )
    rows = [r._asdict() for r in conn.execute(q)]
    for span, start in ragged:
        add_to_rollup(conn, [r for r in rows if r["ts"] >= start], sign=-1, spans=(span,))
        conn.execute(
            heat_rollup.delete().where(
                heat_rollup.c.span_s == span,
                heat_rollup.c.kind.in_(kinds),
                heat_rollup.c.bucket < start,
            )
        )


def _sqlite_time(ts: datetime) -> str:
    # the storage format of SQLAlchemy's SQLite DATETIME, in UTC, so that ranges compare
    offset = ts.utcoffset()
    if offset is None:
        raise ValueError("naive datetime given to a UTC column")
    return (ts.replace(tzinfo=None) - offset).isoformat(" ", "microseconds")


def _write_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    dialect = conn.dialect.name
    if dialect == "sqlite":
        received = _sqlite_time(rows[0]["received_at"])  # one per batch
        params = [
            (r["id"], r["kind"], r["source"], _sqlite_time(r["ts"]), r["lat"], r["lon"],
             r["cell"], r["value"], r["data"], received)
            for r in rows
        ]  # fmt: skip
        conn.exec_driver_sql(_SQLITE_INSERT, params)
    elif dialect == "postgresql":
        params = [tuple(r[c] for c in _EVENT_COLUMNS) for r in rows]
        conn.exec_driver_sql(_PG_INSERT, params)
    else:
        stmt = _insert(conn, events).on_conflict_do_nothing(index_elements=["id"])
        conn.execute(stmt, [{**r, "data": orjson.loads(r["data"])} for r in rows])


def insert_dead_letters(
    conn: Connection, items: Iterable[tuple[str, bytes, str]], keep_payload: bool = True
) -> int:
    """Store (topic, payload, reason) triples; payloads are truncated, their size kept.

    With ``keep_payload`` false (a policy that minimizes), neither the payload nor the
    device part of the topic is kept: only the reason, the kind and the size.
    """
    now = now_utc()
    rows = [
        {
            "received_at": now,
            "topic": topic[:1024] if keep_payload else _withheld(topic),
            "reason": reason[:2000] if keep_payload else reason.split(":", 1)[0][:200],
            "payload": bytes(payload[:DEAD_LETTER_PAYLOAD_MAX]) if keep_payload else b"",
            "payload_size": len(payload),
        }
        for topic, payload, reason in items
    ]
    if rows:
        conn.execute(dead_letters.insert(), rows)
    return len(rows)


def _withheld(topic: str) -> str:
    head, _, _device = topic.rpartition("/")
    return f"{head[:900]}/(withheld by the policy)"


def insert_escrow(conn: Connection, rows: Iterable[tuple[str, str, str, str]], policy: str) -> None:
    """(pseudonym, original, field, period) into the key holder's escrow, once each."""
    values: dict[str, tuple[str, str, str, str, str]] = {}
    for p, o, f, per in rows:
        if p not in values:
            values[p] = (p, o[:256], f, per, policy)
    if not values:
        return
    # the driver's executemany, as for events: SQLAlchemy's per-row binding was most of the
    # cost of a batch's escrow while the town's households get their day's pseudonyms
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(_ESCROW_INSERT.format(p=", ".join([mark] * 5)), list(values.values()))


_ESCROW_INSERT = (
    "INSERT INTO pseudonym_escrow (pseudonym, original, field, period, policy) VALUES ({p}) "
    "ON CONFLICT (pseudonym) DO NOTHING"
)


def public_event(row: Any) -> dict[str, Any]:
    """An events row as the API returns it."""
    m = row._mapping
    geo = {"lat": m["lat"], "lon": m["lon"]} if m["lat"] is not None else None
    return {
        "id": m["id"],
        "kind": m["kind"],
        "source": m["source"],
        "ts": m["ts"],
        "geo": geo,
        "data": m["data"],
    }


def sim_time(conn: Connection, kind: str | None = None) -> datetime | None:
    """The newest stored event time: the command center's view of the simulated clock."""
    q = select(func.max(events.c.ts))
    if kind:
        q = q.where(events.c.kind == kind)
    return conn.execute(q).scalar()


def query_events(
    conn: Connection,
    *,
    kind: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
    kinds: list[str] | None = None,
) -> list[Any]:
    """Events ordered by (ts, id), keyset-paged after ``after`` (``kinds``: only these)."""
    q = select(events)
    conds = []
    if kind:
        conds.append(events.c.kind == kind)
    if kinds is not None:
        conds.append(events.c.kind.in_(kinds))
    if source:
        conds.append(events.c.source == source)
    if since:
        conds.append(events.c.ts >= since)
    if until:
        conds.append(events.c.ts < until)
    if bbox:
        min_lon, min_lat, max_lon, max_lat = bbox
        conds += [
            events.c.lon >= min_lon,
            events.c.lon <= max_lon,
            events.c.lat >= min_lat,
            events.c.lat <= max_lat,
        ]
    if after:
        ts, eid = after
        conds.append(or_(events.c.ts > ts, and_(events.c.ts == ts, events.c.id > eid)))
    if conds:
        q = q.where(and_(*conds))
    return list(conn.execute(q.order_by(events.c.ts, events.c.id).limit(limit)))


def latest_per_source(conn: Connection, kind: str, since: datetime) -> list[Any]:
    """The newest event of each source of ``kind`` at or after ``since``."""
    newest = (
        select(events.c.source, func.max(events.c.ts).label("ts"))
        .where(events.c.kind == kind, events.c.ts >= since)
        .group_by(events.c.source)
        .subquery()
    )
    q = (
        select(events)
        .join(newest, and_(events.c.source == newest.c.source, events.c.ts == newest.c.ts))
        .where(events.c.kind == kind)
        .order_by(events.c.source, events.c.id)
    )
    out: dict[str, Any] = {}
    for row in conn.execute(q):
        out.setdefault(row.source, row)  # one per source even if two share a timestamp
    return list(out.values())


def cell_values(
    conn: Connection, kind: str | None, since: datetime, until: datetime
) -> list[tuple[str, float, float, int]]:
    """(cell, sum of value, count of values, count of events) per stored cell in a window."""
    q = select(
        events.c.cell,
        func.coalesce(func.sum(events.c.value), 0.0),
        func.count(events.c.value),
        func.count(),
    ).where(events.c.ts >= since, events.c.ts < until, events.c.cell.is_not(None))
    if kind:
        q = q.where(events.c.kind == kind)
    return [
        (c, float(s), int(nv), int(n)) for c, s, nv, n in conn.execute(q.group_by(events.c.cell))
    ]


def _pieces(
    since: datetime, until: datetime, spans: Sequence[int]
) -> list[tuple[int | None, datetime, datetime]]:
    """[since, until) as whole buckets of the longest spans that fit, and raw edges."""
    if since >= until:
        return []
    if not spans:
        return [(None, since, until)]
    span, rest = spans[0], spans[1:]
    lo = bucket_of(since, span)
    if lo < since:
        lo += timedelta(seconds=span)
    hi = bucket_of(until, span)
    if lo >= hi:
        return _pieces(since, until, rest)
    return [*_pieces(since, lo, rest), (span, lo, hi), *_pieces(hi, until, rest)]


def heat_cells(
    conn: Connection, kind: str | None, since: datetime, until: datetime
) -> list[tuple[str, float, float, int]]:
    """As :func:`cell_values`, from heat_rollup for whole buckets and events for the edges.

    A seven-day window reads about six day rows, a few dozen hour and five-minute rows per
    cell, and at most ten minutes of events, instead of every event of the week.
    """
    pieces = _pieces(since, until, sorted(ROLLUP_SPANS, reverse=True))
    r, e = heat_rollup.c, events.c
    parts = []
    # one SELECT per piece, so that each uses its own index range (an OR of ranges made
    # PostgreSQL scan instead)
    for span, lo, hi in pieces:
        if span is None:
            q = select(
                e.cell,
                func.coalesce(e.value, 0.0).label("total"),
                case((e.value.is_(None), 0), else_=1).label("nv"),
                literal(1).label("n"),
            ).where(e.ts >= lo, e.ts < hi, e.cell.is_not(None))
            parts.append(q.where(e.kind == kind) if kind else q)
        else:
            q = select(r.cell, r.total.label("total"), r.n_values.label("nv"), r.n.label("n"))
            q = q.where(r.span_s == span, r.bucket >= lo, r.bucket < hi)
            parts.append(q.where(r.kind == kind) if kind else q)
    if not parts:
        return []
    # one statement: the database sums buckets and edges per cell
    u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    q = select(u.c.cell, func.sum(u.c.total), func.sum(u.c.nv), func.sum(u.c.n)).group_by(u.c.cell)
    return [(c, float(t), int(nv), int(n)) for c, t, nv, n in conn.execute(q) if n and int(n) > 0]


def counts_by_kind(conn: Connection) -> dict[str, int]:
    """Stored events per kind."""
    rows = conn.execute(select(events.c.kind, func.count()).group_by(events.c.kind))
    return {k: int(n) for k, n in rows}


def count(conn: Connection, table: Any, *where: Any) -> int:
    """Rows of ``table`` matching ``where``."""
    q = select(func.count()).select_from(table)
    if where:
        q = q.where(*where)
    return int(conn.execute(q).scalar() or 0)


def dead_letter_rows(conn: Connection, limit: int) -> list[Any]:
    """The newest dead letters."""
    q = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    return list(conn.execute(q))


def alert_rows(
    conn: Connection, state: str | None, limit: int, rule: str | None = None
) -> list[Any]:
    """Alerts, newest last_seen first; ``state`` may be ``open`` (active or acknowledged)."""
    q = select(alerts)
    if state == "open":
        q = q.where(alerts.c.state.in_(("active", "acknowledged")))
    elif state:
        q = q.where(alerts.c.state == state)
    if rule:
        q = q.where(alerts.c.rule == rule)
    return list(
        conn.execute(q.order_by(alerts.c.last_seen.desc(), alerts.c.id.desc()).limit(limit))
    )


def alert_counts_by_rule(conn: Connection) -> dict[str, dict[str, int]]:
    """rule -> {state: number of alerts}."""
    out: dict[str, dict[str, int]] = {}
    q = select(alerts.c.rule, alerts.c.state, func.count()).group_by(alerts.c.rule, alerts.c.state)
    for rule, state, n in conn.execute(q):
        out.setdefault(rule, {})[state] = n
    return out


def iter_events(
    conn: Connection, kinds: list[str], since: datetime, until: datetime, limit: int
) -> Iterator[Any]:
    """Stored events of ``kinds`` in [since, until), in time order, at most ``limit``."""
    q = (
        select(events.c.id, events.c.kind, events.c.source, events.c.ts, events.c.lat,
               events.c.lon, events.c.data)
        .where(events.c.kind.in_(kinds), events.c.ts >= since, events.c.ts < until)
        .order_by(events.c.ts, events.c.id)
        .limit(limit)
    )  # fmt: skip
    yield from conn.execute(q)


def write_rule_status(conn: Connection, worker: str, status: Iterable[dict[str, Any]]) -> None:
    """Replace what ``worker`` reported of its rules."""
    now = now_utc()
    rows = [
        {
            "rule": s["id"],
            "worker": worker[:128],
            "state": s["state"],
            "reason": (s.get("reason") or "")[:512] or None,
            "evaluations": s["evaluations"],
            "matches": s["matches"],
            "errors": s["errors"],
            "last_error": (s.get("last_error") or "")[:512] or None,
            "updated_at": now,
        }
        for s in status
    ]
    conn.execute(rule_status.delete().where(rule_status.c.worker == worker[:128]))
    if rows:
        conn.execute(rule_status.insert(), rows)


def rule_status_totals(conn: Connection) -> dict[str, dict[str, Any]]:
    """rule -> evaluations, matches, errors summed over the workers, and the newest error."""
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(select(rule_status).order_by(rule_status.c.updated_at)):
        t = out.setdefault(r.rule, {"evaluations": 0, "matches": 0, "errors": 0,
                                    "last_error": None, "updated_at": None})  # fmt: skip
        t["evaluations"] += r.evaluations
        t["matches"] += r.matches
        t["errors"] += r.errors
        t["last_error"] = r.last_error or t["last_error"]
        t["updated_at"] = r.updated_at
    return out


def aggregate_id(kind: str, source: str, ts: datetime) -> str:
    """The id of the aggregate of ``kind`` for block ``source`` at bucket ``ts``."""
    key = f"{kind}|{source}|{ts.astimezone(UTC).isoformat()}".encode()
    return "agg-" + hashlib.sha256(key).hexdigest()[:32]


def merge_aggregates(conn: Connection, parts: Sequence[Any], received_at: datetime) -> list[Any]:
    """Add contributions (policy ``Kept`` with ``agg``) to their block-level aggregates.

    Each aggregate is one events row per kind, block and bucket: the kind's headline measure
    summed, its other measures averaged, and ``n`` the number of contributions. A
    contribution already counted (a redelivery) adds nothing. Returns the new contributions.
    """
    unique = {p.id: p for p in parts}
    if not unique:
        return []
    seen = set(
        conn.execute(
            select(aggregate_members.c.event_id).where(
                aggregate_members.c.event_id.in_(list(unique))
            )
        ).scalars()
    )
    new = [p for i, p in unique.items() if i not in seen]
    if not new:
        return []
    groups: dict[str, list[Any]] = {}
    for p in new:
        groups.setdefault(aggregate_id(p.kind, p.source, p.ts), []).append(p)
    conn.execute(
        aggregate_members.insert(),
        [{"event_id": p.id, "aggregate_id": a, "ts": p.ts} for a, ps in groups.items() for p in ps],
    )
    stored = {
        r.id: r
        for r in conn.execute(
            select(events.c.id, events.c.data, events.c.value, events.c.cell, events.c.ts,
                   events.c.kind).where(events.c.id.in_(groups))
        )
    }  # fmt: skip
    current = {
        i: orjson.loads(r.data) if isinstance(r.data, str | bytes) else r.data
        for i, r in stored.items()
    }
    inserts, before, after = [], [], []
    for agg, ps in groups.items():
        first = ps[0]
        headline = KINDS[first.kind].VALUE_FIELD
        data: dict[str, Any] = dict(current.get(agg) or {"n": 0})
        n0 = int(data.get("n", 0))
        for p in ps:
            n = int(data.get("n", 0))
            for name, v in p.data.items():
                if name == headline:
                    data[name] = round(float(data.get(name, 0.0)) + v, 9)
                else:  # a running mean
                    data[name] = round((float(data.get(name, 0.0)) * n + v) / (n + 1), 9)
            data["n"] = n + 1
        row = stored_row(agg, first.kind, first.source, first.ts, first.lat, first.lon, data,
                         received_at)  # fmt: skip
        if n0:
            conn.execute(
                events.update()
                .where(events.c.id == agg)
                .values(data=data, value=row["value"], received_at=received_at)
            )
            old = stored[agg]._asdict()
            before.append(old)
            after.append({**old, "value": row["value"]})
        else:
            inserts.append(row)
    if inserts:
        _write_events(conn, inserts)
        add_to_rollup(conn, inserts)
    if before:  # an aggregate's value changed in place: the rollup follows, counts stay
        add_to_rollup(conn, before, sign=-1, counted=False)
        add_to_rollup(conn, after, counted=False)
    return new


def sightings_of(
    conn: Connection, kind: str, key: str, since: datetime, until: datetime
) -> list[tuple[Any, datetime, str]]:
    """(identity, ts, cell) of the stored events of ``kind`` in ``[since, until)`` that name
    an identity in ``data[key]`` and have a cell: what the people layer counts."""
    e = events.c
    q = select(e.data, e.ts, e.cell).where(
        e.kind == kind, e.ts >= since, e.ts < until, e.cell.is_not(None)
    )
    out = []
    for data, ts, cell in conn.execute(q):
        ident = (data or {}).get(key)
        if ident is not None:
            out.append((ident, ts, cell))
    return out
