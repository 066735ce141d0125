"""The ingest worker.

Receiving stays cheap: the paho network thread reads the socket in large chunks
(:class:`~services.mqtt.BulkClient`) and only puts each chunk's messages on a bounded queue
(when it is full, the network thread waits, so the broker holds the backlog: backpressure
instead of growth). A batch's work is two steps: :meth:`Ingest.prepare` decodes and
validates it, applies the policy and builds the rows as stored; :meth:`Ingest.write` stores
events, dead letters, escrow and the rules' alerts in one transaction. Only then are
the batch's QoS 1 messages acknowledged. A crash before the commit leaves them
unacknowledged for redelivery; redelivered events are recognised by id and stored once.

By default the writing runs in a child process, and the two steps use both cores: the
parent keeps the MQTT session, prepares the next batch while the child writes the one
before (WRITER_PIPELINE), hands it over as plain values, and acknowledges only what the
child committed. What the policy removes goes no further than the parent's prepare.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from services.config import Settings
from services.events import ContractError, alert_topic, subscription
from services.events.codec import reason_code
from services.events.topics import is_alert_topic
from services.events.wire import decode_event
from services.mqtt import Received, connect_properties, detect_protocol, persistent_client
from services.policy.active import POLICIES_DIR, PolicyBook, active_policy
from services.policy.apply import Kept, Minimizer, load_secret
from services.policy.retention import RetentionSweeper
from services.policy.spec import PolicyError, PolicySpec
from services.rules.alerts import apply_candidates, auto_clear
from services.rules.book import RULES_DIR, RuleBook
from services.rules.engine import Candidate, Event, RuleEngine
from services.store.db import check_writable, make_engine, migrate
from services.store.models import events as events_table
from services.store.repo import (
    insert_dead_letters,
    insert_escrow,
    insert_new_events,
    merge_aggregates,
    now_utc,
    sim_time,
    stored_row,
    write_rule_status,
)

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    """Counters since start (read from other threads; ints are updated atomically enough)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    alerts_opened: int = 0
    alerts_cleared: int = 0
    dropped_by_policy: int = 0
    expired: int = 0
    batches: int = 0
    db_errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    held: str = ""  # why batches are held unacknowledged and nothing is stored ("" when not)

    def add(self, other: IngestStats) -> None:
        """Add another worker's (or the writer process's) counts to these."""
        for name in (
            "received",
            "stored",
            "duplicates",
            "dead_letters",
            "alerts_opened",
            "alerts_cleared",
            "dropped_by_policy",
            "expired",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.batches += other.batches
        self.db_errors += other.db_errors
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


class PolicyRefused(RuntimeError):
    """No valid policy to apply: the batch is held unacknowledged and nothing is stored.

    A plain RuntimeError (one string), so that it crosses from the writer process intact.
    """


# A received message: (topic, payload, mid, qos), as the bulk reader hands them over.
_Msg = Received
_PUBACK_PACK = struct.Struct("!BBH").pack
_PUBACK = 0x40  # MQTT control packet type of a PUBACK (3.1.1 and 5: no reason code = success)


# An event this far ahead of the stream's clock (the newest event time stored) is a device
# whose clock is wrong: stored, it would move the situation room's "now" years ahead. When
# at least AHEAD_QUORUM distinct sources of one batch are that far ahead, it is the stream
# that moved (a later run into a kept store): they are stored and the clock follows.
MAX_AHEAD = timedelta(hours=24)
AHEAD_QUORUM = 3
POLICY_CHECK_S = 0.5  # how often the active policy is looked up (wall clock)
ESCROW_SEEN_MAX = 200_000  # pseudonyms remembered as escrowed (then forgotten, sent again)
STATUS_EVERY_S = 2.0  # how often the rules' counts are written for the Rules page
# Batches handed to the writer process before the first of them is settled: while the
# parent waits for one commit, acknowledges it and prepares the next batch, the writer
# already has the one after, so it is never idle between two. Each is still acknowledged
# only after its commit.
WRITER_PIPELINE = 2


class Prepared(NamedTuple):
    """A batch decoded, validated and minimized, ready to be written (:meth:`Ingest.prepare`).

    Plain values only (rows as stored, tuples, the policy's spec), so that it crosses to the
    writer process cheaply; it is prepared once and written as often as a write is retried.
    """

    rows: list[dict[str, Any]]  # events kept as such, in their stored form
    sources: list[tuple[str, bytes]]  # (topic, payload) of each row, for a dead letter
    parts: list[Kept]  # contributions to block sums (a policy's aggregate)
    dead: list[tuple[str, bytes, str]]  # (topic, payload, reason)
    escrow: list[tuple[str, str, str, str]]  # pseudonyms made: (pseudonym, original, ...)
    dropped: int  # events the policy dropped
    newest: datetime | None  # the newest event time kept
    received_at: datetime
    policy_key: tuple[str, int]  # the policy applied (its id and the files' generation)
    spec: PolicySpec  # that policy, for the writer's rules, dead letters and retention


class DatabaseError(RuntimeError):
    """The database refused a batch (raised across the process boundary as plain text)."""


_child: Ingest | None = None


def _child_init(settings_json: str) -> None:
    global _child
    # the parent decides when the writer stops (after the last batch); a Ctrl+C or SIGTERM
    # sent to the whole process group must not kill it mid-batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    _child = Ingest(Settings.model_validate_json(settings_json))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker killed outright (SIGKILL, OOM) must not leave its writer behind, holding a
    database connection: the writer leaves once it is orphaned (its batch, if any, is rolled
    back by the database and redelivered by the broker to the worker's next incarnation)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _child_write(batch: Prepared) -> tuple[list[dict[str, Any]], IngestStats]:
    """write() one prepared batch in the writer process; returns the alerts opened and its
    counts."""
    assert _child is not None
    _child.stats = IngestStats()  # the parent keeps the totals
    try:
        opened = _child.write(batch)
    except SQLAlchemyError as exc:
        raise DatabaseError(str(exc).splitlines()[0]) from None
    return opened, _child.stats


def _child_flush_status() -> None:
    assert _child is not None
    _child.flush_status()


def _conflicting_copies(
    conn: Any, rows: list[dict[str, Any]], new: list[dict[str, Any]], sources: list[Any]
) -> list[tuple[str, bytes, str]]:
    """Dead letters for events whose id is stored (or earlier in the batch) with other content.

    A redelivery is the same event again and is simply not stored twice; a second event
    under a used id is a fault of its sender, and is kept here with the reason instead of
    vanishing. Both are compared as stored, i.e. after the policy. ``sources`` holds the
    (topic, payload) of each row.
    """
    new_ids = {r["id"] for r in new}
    first: dict[str, dict[str, Any]] = {}
    suspects = []  # (row, topic, payload) of every copy that was not stored
    for r, src in zip(rows, sources, strict=True):
        if r["id"] in first or r["id"] not in new_ids:
            suspects.append((r, *src))
        first.setdefault(r["id"], r)
    old_ids = sorted({r["id"] for r, _t, _p in suspects} - new_ids)
    known: dict[str, tuple[Any, ...]] = {}
    c = events_table.c
    for i in range(0, len(old_ids), 900):
        q = select(c.id, c.kind, c.source, c.ts, c.data).where(c.id.in_(old_ids[i : i + 900]))
        for row in conn.execute(q):
            data = orjson.loads(row.data) if isinstance(row.data, str | bytes) else row.data
            known[row.id] = (row.kind, row.source, row.ts, data)
    for i, f in first.items():
        known.setdefault(i, (f["kind"], f["source"], f["ts"], orjson.loads(f["data"])))
    out = []
    for r, topic, payload in suspects:
        other = known[r["id"]]
        if (r["kind"], r["source"], r["ts"], orjson.loads(r["data"])) != other:
            why = (
                f"duplicate id: {r['id']} is already stored with other content "
                f"({other[0]} from {other[1]} at {other[2].isoformat()})"
            )
            out.append((topic, payload, why))
    return out


class Ingest:
    """One ingest worker; several may share an MQTT 5 shared subscription."""

    def __init__(self, settings: Settings, engine: Engine | None = None, share: str | None = None):
        self.settings = settings
        self.engine = engine or make_engine(settings.effective_database_url)
        self.share = share
        self.stats = IngestStats()
        self.rulebook = RuleBook(settings.rules_dir or RULES_DIR)
        self.rules = RuleEngine(self.rulebook.rules)
        self.policies = PolicyBook(settings.policies_dir or POLICIES_DIR)
        settings.require_secret("AQKOL_PSEUDONYM_KEY", settings.pseudonym_key)
        self.secret = load_secret(settings.var_dir, settings.pseudonym_key)
        self.minimizer: Minimizer = None  # type: ignore[assignment]  # set by reload_policy
        self._policy_key: tuple[str, int] | None = None
        self._policy_checked = float("-inf")
        self.retention = RetentionSweeper()
        self._status_written = float("-inf")
        self._status_unwritten = False  # batches processed since the rules' counts were written
        self._status_retry = float("-inf")
        self._refused: set[str] = set()
        self._clock: datetime | None = None  # newest event time stored (read at first batch)
        self._clock_read = False
        self._escrowed: set[str] = set()  # pseudonyms known to be in escrow (committed)
        self._log_refused()
        self.ready = threading.Event()  # set once the subscription is granted
        # received, not yet written: appended by the network thread, taken by the writer
        self._buf: deque[_Msg] = deque()
        self._buf_cond = threading.Condition()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._protocol = mqtt.MQTTv311
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_child_init,
            # the writer signs nothing; a SecretStr would arrive masked ("**********")
            initargs=(self.settings.model_dump_json(exclude={"secret_key"}),),
        )
        pool.submit(int).result(timeout=120)  # started and initialised before we subscribe
        return pool

    def _submit(self, batch: Prepared) -> tuple[Any, Future[Any] | None]:
        """Hand a prepared batch to the writer process (None: no writer process, written at
        settle)."""
        pool = self._pool
        if pool is None:
            return None, None
        try:
            return pool, pool.submit(_child_write, batch)
        except BrokenProcessPool:
            return pool, None

    def _result(self, batch: Prepared, pool: Any, fut: Future[Any] | None) -> list[dict[str, Any]]:
        """The outcome of a prepared batch: write() here, or the writer process's result for
        it; raises DatabaseError/SQLAlchemyError as write() does."""
        if self._pool is None:
            return self.write(batch)
        try:
            if fut is None:
                raise BrokenProcessPool("not submitted")
            opened, delta = fut.result()
        except BrokenProcessPool:
            if pool is self._pool:  # a second batch of the same dead writer starts no other
                log.error("the writer process died; starting a new one")
                self._pool = self._new_pool()
            raise DatabaseError("writer process died") from None
        self.stats.add(delta)
        self._escrow_committed(batch.escrow)
        return opened

    def _escrow_committed(self, escrow: list[tuple[str, str, str, str]]) -> None:
        """Remember the pseudonyms a committed batch put in escrow (bounded)."""
        if len(self._escrowed) > ESCROW_SEEN_MAX:
            self._escrowed.clear()
        self._escrowed.update(e[0] for e in escrow)

    # -- MQTT side (network thread) -------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the ingest: %s", rc)
            return
        topic = subscription(self.settings.mqtt_prefix, self.share)
        log.info("connected (session present: %s); subscribing %s", flags.session_present, topic)
        client.subscribe(topic, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(getattr(c, "is_failure", False) for c in codes):
            log.error("subscription refused: %s", codes)
            return
        self.ready.set()

    def _on_publishes(self, msgs: list[_Msg]) -> None:
        """The messages of one read from the socket (the network thread)."""
        buf = self._buf
        if len(buf) >= self.settings.ingest_queue_size:
            # backpressure: keep the network thread here until the writer drains
            with self._buf_cond:
                while len(buf) >= self.settings.ingest_queue_size and not self._stop.is_set():
                    self._buf_cond.wait(0.5)
        if self._stop.is_set():
            return  # not acknowledged: the broker keeps them
        buf.extend(msgs)
        self.stats.received += len(msgs)
        if len(buf) >= self.settings.ingest_batch_size:
            with self._buf_cond:
                self._buf_cond.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """A message paho handled itself (a QoS 2 one): as one read."""
        self._on_publishes([(msg.topic, msg.payload, msg.mid, msg.qos)])

    # -- writer side ------------------------------------------------------------------------
    def _take_batch(self, wait: bool = True) -> list[_Msg]:
        """Up to a batch of received messages: as soon as a batch is there, or what came
        within ``ingest_batch_seconds`` (with ``wait`` false: what is there now)."""
        buf, size = self._buf, self.settings.ingest_batch_size
        if wait:
            with self._buf_cond:  # the network thread notifies under it: no wake-up is lost
                if len(buf) < size:
                    self._buf_cond.wait(self.settings.ingest_batch_seconds)
        n = min(len(buf), size)
        batch = [buf.popleft() for _ in range(n)]
        if n:
            with self._buf_cond:
                self._buf_cond.notify_all()  # room again, for a network thread held back
        return batch

    def _ack(self, client: mqtt.Client, batch: list[_Msg]) -> None:
        """Acknowledge a committed batch's QoS 1 messages: all the PUBACKs in one write."""
        mids = [m[2] for m in batch if m[3] == 1]
        queue_packet = getattr(client, "_packet_queue", None)
        if queue_packet is None or any(m[3] > 1 for m in batch):  # not the paho we know
            for _t, _p, mid, qos in batch:
                if qos > 0:
                    client.ack(mid, qos)
            return
        if mids:
            # paho queues and writes one packet per ack() (a wake-up and a send each);
            # the same PUBACK packets, concatenated, go out as one write
            packets = b"".join(_PUBACK_PACK(_PUBACK, 2, mid) for mid in mids)
            queue_packet(_PUBACK, packets, 0, 0)

    def process(self, batch: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Validate and store one batch of (topic, payload) in one transaction.

        Returns the alerts opened. Raises SQLAlchemyError if the database refused the batch
        (nothing of it is then stored), PolicyRefused if no valid policy is in force.
        """
        return self.write(self.prepare(batch))

    def prepare(self, batch: list[tuple[str, bytes]]) -> Prepared:
        """Decode, validate and minimize a batch: everything before the write.

        Writes nothing, so it runs in the MQTT process while the writer process stores the
        batch before (both cores busy); what the policy removes goes no further than here.
        Raises PolicyRefused (no valid policy) or SQLAlchemyError (the active policy or the
        clock could not be read). The clock moves here to the newest event prepared: the
        next batch is judged as if this one were stored, as it will be before any later one
        is acknowledged.
        """
        received_at = now_utc()
        prefix = self.settings.mqtt_prefix
        self.reload_policy()
        minimizer = self.minimizer
        rows, dead, parts = [], [], []
        row_sources: list[tuple[str, bytes]] = []
        dropped = 0
        decoded = []
        newest: datetime | None = None
        for topic, payload in batch:
            if is_alert_topic(topic, prefix):
                continue  # our own announcements
            try:
                decoded.append((topic, payload, decode_event(payload, topic, prefix)))
            except ContractError as exc:
                dead.append((topic, payload, exc.reason))
            except Exception as exc:  # a decoder bug must not stall the ingest on one payload
                log.exception("decoder failed on a payload from %s", topic)
                dead.append((topic, payload, f"decoder error: {type(exc).__name__}: {exc}"))
        for topic, payload, ev in self._not_ahead(decoded, dead):
            k = minimizer.apply(ev)  # what the policy removes goes no further than this
            if k is None:
                dropped += 1
                continue
            if newest is None or k.ts > newest:
                newest = k.ts
            if k.agg:
                parts.append(k)
            else:
                rows.append(stored_row(*k[:7], received_at))
                row_sources.append((topic, payload))
        if newest is not None and (self._clock is None or newest > self._clock):
            self._clock = newest
        # a pseudonym goes to escrow once: the same household's meter gives the same one
        # all day (not sent again once a batch with it is committed)
        escrow: dict[str, tuple[str, str, str, str]] = {}
        for e in minimizer.take_escrow():
            if e[0] not in self._escrowed:
                escrow.setdefault(e[0], e)
        assert self._policy_key is not None  # set with the minimizer
        return Prepared(
            rows,
            row_sources,
            parts,
            dead,
            list(escrow.values()),
            dropped,
            newest,
            received_at,
            self._policy_key,
            minimizer.spec,
        )

    def write(self, batch: Prepared) -> list[dict[str, Any]]:
        """Store a prepared batch in one transaction (events, block sums, dead letters,
        escrow, the rules' alerts); returns the alerts opened. Raises SQLAlchemyError if the
        database refused it (nothing of it is then stored)."""
        self._follow_policy(batch.policy_key, batch.spec)
        spec = batch.spec
        rows, parts, dead = batch.rows, batch.parts, list(batch.dead)
        self.reload_rules()
        rules = self.rules
        with self.engine.begin() as conn:
            new = insert_new_events(conn, rows)
            # redeliveries, or one id reused for other content (a dead letter)
            reused = (
                _conflicting_copies(conn, rows, new, batch.sources) if len(new) < len(rows) else []
            )
            dead += reused
            new_parts = merge_aggregates(conn, parts, batch.received_at) if parts else []
            insert_dead_letters(conn, dead, spec.dead_letter_payloads)
            insert_escrow(conn, batch.escrow, spec.id)
            # the rules see each new event once (a redelivered duplicate is not new), in
            # event-time order, as the policy left it (its data as stored)
            fresh = [
                Event.make(r["id"], r["kind"], r["source"], r["ts"], orjson.loads(r["data"]),
                           r["lat"], r["lon"])
                for r in new
                if rules.wants(r["kind"])
            ]  # fmt: skip
            fresh += [
                Event.make(p.id, p.kind, p.source, p.ts, p.data, p.lat, p.lon)
                for p in new_parts
                if rules.wants(p.kind)
            ]
            fresh.sort(key=lambda e: e.ts)
            candidates: list[Candidate] = []
            for ev in fresh:
                candidates.extend(rules.process(ev))
            candidates.extend(rules.tick())
            opened = apply_candidates(conn, candidates, rules.alert_meta()) if candidates else []
            if rules.watermark is not None:
                self.stats.alerts_cleared += auto_clear(
                    conn, rules.quiet_periods(), rules.watermark
                )
            now = time.monotonic()
            if now - self._status_written >= STATUS_EVERY_S:
                self._status_written = now
                write_rule_status(conn, self.settings.ingest_client_id, rules.status())
            self.stats.expired += self.retention.maybe_sweep(conn, spec, batch.newest)
        self._escrow_committed(batch.escrow)
        self.stats.stored += len(new) + len(new_parts)
        self.stats.duplicates += len(rows) - len(new) - len(reused) + len(parts) - len(new_parts)
        self.stats.dead_letters += len(dead)
        self.stats.dropped_by_policy += batch.dropped
        self.stats.alerts_opened += len(opened)
        for _t, _p, reason in dead:
            key = reason_code(reason)
            self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
        self.stats.batches += 1
        return opened

    def flush_status(self) -> None:
        """Write the rules' counts now (the writer does when the stream goes quiet)."""
        with self.engine.begin() as conn:
            write_rule_status(conn, self.settings.ingest_client_id, self.rules.status())
        self._status_written = time.monotonic()

    def _flush_status_when_quiet(self) -> None:
        """After a burst, the Rules page shows the last counts rather than ones up to
        STATUS_EVERY_S old; a database that is away is tried again later."""
        if not self._status_unwritten or time.monotonic() < self._status_retry:
            return
        try:
            if self._pool is None:
                self.flush_status()
            else:
                self._pool.submit(_child_flush_status).result()
            self._status_unwritten = False
        except Exception as exc:
            self._status_retry = time.monotonic() + STATUS_EVERY_S
            log.warning("could not write the rules' counts (%s); trying again", exc)

    def _not_ahead(self, decoded: list[Any], dead: list[Any]) -> list[Any]:
        """The decoded events, less those far ahead of the clock (dead-lettered)."""
        if not self._clock_read:
            self._clock_read = True
            with self.engine.connect() as conn:
                self._clock = sim_time(conn)
        clock = self._clock
        if clock is None or not decoded:
            return decoded
        limit = clock + MAX_AHEAD
        ahead = [d for d in decoded if d[2].ts > limit]
        if not ahead or len({d[2].source for d in ahead}) >= AHEAD_QUORUM:
            return decoded
        hours = MAX_AHEAD.total_seconds() / 3600
        for topic, payload, ev in ahead:
            why = (
                f"timestamp ahead of the clock: {ev.ts.isoformat()} is more than {hours:g} h "
                f"after the newest stored event ({clock.isoformat()})"
            )
            dead.append((topic, payload, why))
        return [d for d in decoded if d[2].ts <= limit]

    def reload_policy(self) -> None:
        """Follow the active policy (switched in the database, or its file saved)."""
        now = time.monotonic()
        if now - self._policy_checked < POLICY_CHECK_S and self.minimizer is not None:
            return
        self._policy_checked = now
        self.policies.refresh()
        if self.settings.policy_pinned:  # a comparison lane keeps its own policy
            policy_id = self.settings.policy
        else:
            with self.engine.connect() as conn:
                policy_id, _row = active_policy(conn, self.settings.policy)
        key = (policy_id, self.policies.generation)
        if key == self._policy_key:
            return
        try:
            spec = self.policies.spec(policy_id)
        except PolicyError as exc:
            # fail closed: storing unminimized what a policy should have removed cannot be
            # undone; holding the messages can (the broker keeps them until this loads)
            self.minimizer = None  # type: ignore[assignment]
            self._policy_key = None
            raise PolicyRefused(
                f"policy {policy_id} refused ({exc}): nothing is stored and messages stay "
                "unacknowledged until a valid policy is in force"
            ) from None
        self._policy_key = key
        self.minimizer = Minimizer(spec, self.secret)
        self.rules = RuleEngine(self.rulebook.rules, self.minimizer, previous=self.rules)
        log.info("policy in force: %s", spec.id)

    def _follow_policy(self, key: tuple[str, int], spec: PolicySpec) -> None:
        """Take up the policy a batch was prepared under, for the rules (which it may blind)
        and the write: in the writer process, the MQTT process's choice is followed."""
        if key == self._policy_key and self.minimizer is not None:
            return
        self._policy_key = key
        self.minimizer = Minimizer(spec, self.secret)
        self.rules = RuleEngine(self.rulebook.rules, self.minimizer, previous=self.rules)
        log.info("policy in force: %s", spec.id)

    def reload_rules(self) -> None:
        """Take up saved rule files; a refused file leaves its last good version in force."""
        if self.rulebook.refresh():
            self.rules = RuleEngine(self.rulebook.rules, self.rules.policy, previous=self.rules)
            log.info("rules in force: %s", ", ".join(r.id for r in self.rulebook.rules))
        self._log_refused()

    def _log_refused(self) -> None:
        errors = {str(e) for e in self.rulebook.errors()}
        for e in sorted(errors - self._refused):
            log.error("rule file refused (the previous version stays in force): %s", e)
        self._refused = errors

    def _writer_loop(self) -> None:
        try:
            self._write_until_stopped()
        finally:
            self._status_retry = float("-inf")
            self._flush_status_when_quiet()  # the last counts, for the Rules page

    def _write_until_stopped(self) -> None:
        size = self.settings.ingest_batch_size
        depth = WRITER_PIPELINE if self._pool is not None else 1
        # (batch, prepared, its pool, its future): prepared here and handed to the writer,
        # not yet settled, in order (prepared None: preparing failed, tried again at settle)
        pending: deque[tuple[list[_Msg], Prepared | None, Any, Future[Any] | None]] = deque()
        while True:
            while len(pending) < depth:
                if pending:  # a result is due: take only a whole batch that is waiting
                    if len(self._buf) < size or pending[-1][1] is None:
                        break
                    batch = self._take_batch(wait=False)
                else:
                    if self._stop.is_set() and not self._buf:
                        return
                    batch = self._take_batch()
                    if not batch:
                        self._flush_status_when_quiet()
                        continue
                # decoded and minimized here, while the writer process stores the batch before
                try:
                    prepared: Prepared | None = self.prepare([(m[0], m[1]) for m in batch])
                except Exception:
                    prepared = None  # held or retried, with the cause logged, at settle
                if prepared is None:
                    pending.append((batch, None, None, None))
                else:
                    pending.append((batch, prepared, *self._submit(prepared)))
            batch, prepared, pool, fut = pending.popleft()
            opened = self._settle(batch, prepared, pool, fut)
            if opened is None:
                return
            client = self._client
            if client is not None:
                self._ack(client, batch)
                for alert in opened:
                    client.publish(
                        alert_topic(alert["rule"], self.settings.mqtt_prefix),
                        orjson.dumps(alert, default=str),
                        qos=1,
                    )

    def _settle(
        self, batch: list[_Msg], prepared: Prepared | None, pool: Any, fut: Future[Any] | None
    ) -> list[dict[str, Any]] | None:
        """The alerts a batch opened once it is committed, retried until it is (None: the
        ingest stops first, and the batch stays unacknowledged). A batch is prepared once
        (again only if preparing it failed) and written until its write commits."""
        delay = 0.5
        while True:
            try:
                if prepared is None:
                    prepared = self.prepare([(m[0], m[1]) for m in batch])
                    pool, fut = self._submit(prepared)
                opened = self._result(prepared, pool, fut)
                self._status_unwritten = True
                if self.stats.held:
                    log.info("a valid policy is in force; storing again")
                self.stats.held = ""
                return opened
            except PolicyRefused as exc:
                if str(exc) != self.stats.held:
                    log.error("%s (%d messages held)", exc, len(batch))
                self.stats.held = str(exc)
                if self._stop.wait(delay):
                    log.warning("stopping with %d messages unacknowledged", len(batch))
                    return None
                delay = min(delay * 2, 5.0)
            except Exception as exc:
                # keep the batch unacknowledged and retry; the broker keeps the rest
                self.stats.db_errors += 1
                if isinstance(exc, SQLAlchemyError | DatabaseError):
                    log.error("database write failed (%s); %d messages stay unacknowledged, "
                              "retrying in %.1fs", exc, len(batch), delay)  # fmt: skip
                else:
                    log.exception("batch failed; retrying in %.1fs", delay)
                if self._stop.wait(delay):
                    log.warning("stopping with %d messages unacknowledged", len(batch))
                    return None
                delay = min(delay * 2, 10.0)
            if prepared is not None:  # written anew
                pool, fut = self._submit(prepared)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, migrate_first: bool = True) -> None:
        """Migrate the database, connect, subscribe and start writing in the background.

        A database that cannot be opened or migrated (away, read-only) is retried in the
        background, with the cause logged, and nothing is subscribed until it works: the
        broker keeps what is published meanwhile.
        """
        if not migrate_first or self._migrated():
            self._connect()
            return
        self._starter = threading.Thread(target=self._start_later, name="ingest-start", daemon=True)
        self._starter.start()

    def _migrated(self, delay: float = 0.5) -> bool:
        try:
            migrate(self.settings.effective_database_url)
            check_writable(self.settings.effective_database_url)
        except Exception as exc:
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            where = self.settings.effective_database_url.split("@")[-1]
            log.error(
                "database %s not usable (%s); not subscribing until it is, retrying in %.1fs",
                where,
                cause,
                delay,
            )
            return False
        return True

    def _start_later(self) -> None:
        delay = 0.5
        while not self._stop.wait(delay):
            delay = min(delay * 2, 10.0)
            if self._migrated(delay):
                log.info("database usable again; subscribing")
                self._connect()
                return

    def _connect(self) -> None:
        if self.settings.ingest_writer_process:
            self._pool = self._new_pool()
        self._protocol = detect_protocol(self.settings)
        client = persistent_client(
            self.settings, self.settings.ingest_client_id, self._protocol, bulk=True
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publishes = self._on_publishes  # type: ignore[attr-defined]
        self._client = client
        self._writer = threading.Thread(target=self._writer_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        target = self.settings.mqtt
        props = connect_properties(self._protocol, self.settings.ingest_queue_size)
        kw: dict[str, Any] = {"keepalive": 30}
        if self._protocol == mqtt.MQTTv5:
            kw.update(clean_start=False, properties=props)
        client.connect_async(target.host, target.port, **kw)
        client.loop_start()
        log.info(
            "ingest %s -> %s (MQTT %s)",
            target.host,
            self.settings.effective_database_url.split("@")[-1],
            "5" if self._protocol == mqtt.MQTTv5 else "3.1.1",
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop receiving, write and acknowledge what is queued, disconnect."""
        # from now on nothing more is taken: unacknowledged messages stay with the broker
        self._stop.set()
        if self._starter is not None:
            self._starter.join(timeout)
        client = self._client
        if self._writer is not None:
            self._writer.join(timeout)
        if client is not None:
            client.disconnect()
            client.loop_stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.engine.dispose()
