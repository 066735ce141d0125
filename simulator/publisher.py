"""Publish a town's events to the broker, and keep the run folder.

A small pool of paho-mqtt clients (MQTT 3.1.1, QoS 1, round-robin) carries the whole town:
the device id is in the topic, not in a connection per device. Each client keeps a bounded
number of unacknowledged publishes, so "as fast as possible" cannot run away from a slow
broker. With a ``speed`` the publisher paces by simulated time: ``speed`` simulated seconds
per real second.

Generation, pacing and commands stay in this process; with ``processes`` (``aqkol simulate
--senders``) the clients live in publishing processes (:class:`_Sender`) that take the
events as ready (topic, payload) batches, handed over before every wait, so that paho's
per-message work does not share a GIL with the town. The wire form of an event (its topic
and payload) is made in one place of the publish loop, right before it is handed over.

The run folder ``runs/<run-id>/`` holds what the command center never sees:
``truth.jsonl`` (ground truth per event, and first a record per scenario incident, kind
``incident``), ``truth.sqlite`` (residents, households, every resident's stays and camera
sightings over the run, incidents: :mod:`simulator.truth`), ``households.jsonl`` (the
hidden household attributes: insulation class, heating, fuel, k), ``published.ids`` (ids
handed to the broker) and ``run.json`` (seed, parameters, scenario, counts).

While it runs, the publisher obeys ``{"command": "pause" | "resume" | "speed" | "jump" |
"inject" | "reset"}`` on ``<prefix>aqkol/control/simulator`` (outside ``aqkol/v1/``: the ingest
never stores it), acknowledges each on ``.../status`` (:class:`Control`) and reports its state
(paused or running, speed, simulated time, run id) on the retained ``.../state``, so that a
client that connects later reads the real state, not what was last clicked.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import orjson
import paho.mqtt.client as mqtt

from services.events import topic_for
from services.events.topics import control_state_topic, control_status_topic, control_topic
from simulator.clock import DEFAULT_START, Clock
from simulator.gas import household_truth
from simulator.model import Town
from simulator.people import Population
from simulator.truth import write_truth_db

log = logging.getLogger(__name__)

MAX_INFLIGHT_PER_CLIENT = 2000  # unacknowledged QoS 1 publishes per connection
HANDOVER_BATCH = 500  # events handed to a publishing process at once (at full speed)
SENDER_STARTUP_S = 60.0  # a publishing process imports the simulator (slow on a busy machine)
CONNECT_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 60.0
STATE_EVERY_S = 1.0  # how often the retained state is refreshed while events flow
TRUTH_FLUSH_S = 1.0  # truth.jsonl is flushed this often, so the teacher's view reads it live
COMMANDS = ("pause", "resume", "speed", "jump", "inject", "reset", "policy")
# A jump fast-forwards at this speed, not "as fast as possible": the embedded broker (amqtt)
# gave up deliveries to the ingest and lost control messages at full speed on a busy 2-core
# machine; at 300x (about 1,500 events a second) it keeps up, and 4 hours take ~50 s.
JUMP_SPEED = 300.0


@dataclass
class PublishSummary:
    published: int = 0
    acked: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rate: float = 0.0  # published per second of wall time
    withheld_at_edge: int = 0  # events a device did not send under the policy's edge part
    first_ts: str | None = None
    last_ts: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BrokerSettings(Protocol):
    """What the publisher needs to know of its settings (the command center's
    :class:`~services.config.Settings` has it; the simulator does not import it)."""

    mqtt_prefix: str
    runs_dir: Path

    @property
    def mqtt(self) -> Any:  # host, port, username, password
        ...


class EdgeStep(Protocol):
    """A policy's edge transforms as the devices apply them before publishing (the policy's
    own code, :class:`services.policy.edge.EdgeMinimizer`, given to the simulator by whoever
    starts it: the simulator does not import the command center)."""

    policy: str
    transforms: list[Any]
    kinds: frozenset[str]

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None: ...


EdgeFactory = Callable[[str, list[dict[str, Any]]], EdgeStep]
"""Builds the edge step of a ``policy`` command (its id, its edge transforms)."""


def minimize_at_edge(event: dict[str, Any], edge: EdgeStep | None) -> dict[str, Any] | None:
    """The publishing path's edge step: ``event`` as the device may send it under the policy
    in force (None: not sent). Free when no edge transform is active."""
    if edge is None:
        return event
    return edge.apply(event)


class Control:
    """Commands received over MQTT, applied between two events.

    Commands (JSON on :func:`control_topic`): ``{"command": "pause"}``, ``{"command":
    "resume"}``, ``{"command": "speed", "value": 600}`` (simulated seconds per real second,
    or ``"max"``), ``{"command": "jump", "to": "2026-01-15T12:00:00+06:00"}`` (fast-forward:
    publish at full speed up to that time, then go on as before), ``{"command": "inject",
    "scenario": "protest"}`` (the scenario's incidents, moved to start a minute from now) and
    ``{"command": "reset"}`` (done by the supervisor, ``aqkol up``: acknowledged here) and
    ``{"command": "policy", "id": "edge-counts", "edge": [...]}`` (the devices apply those
    transforms before publishing from the next event on: :mod:`services.policy.edge`). Each is
    acknowledged on :func:`control_status_topic` once in force: a pause after the last event
    before it, with the count published so far.
    """

    def __init__(self, edge_factory: EdgeFactory | None = None) -> None:
        self.edge_factory = edge_factory
        self.cond = threading.Condition()
        self.commands: list[tuple[str, Any]] = []  # parsed, for the loop to apply in order
        self.pending: list[dict[str, Any]] = []  # refusals to acknowledge from the loop

    def take(self) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
        """The commands received since the last call, and the refusals to acknowledge."""
        with self.cond:
            commands, self.commands = self.commands, []
            refusals, self.pending = self.pending, []
        return commands, refusals

    def wait(self, seconds: float) -> None:
        """Until a command arrives, or ``seconds`` pass."""
        with self.cond:
            if not self.commands and not self.pending:
                self.cond.wait(seconds)

    def _parse(self, cmd: dict[str, Any]) -> tuple[str, Any]:
        name = cmd["command"]
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
        if name == "speed":
            value = cmd.get("value")
            speed = None if value in (None, "max") else float(value)
            if speed is not None and speed <= 0:
                raise ValueError("speed must be positive")
            return name, speed
        if name == "jump":
            try:
                to = datetime.fromisoformat(str(cmd.get("to")))
            except ValueError:
                to = None
            if to is None or to.tzinfo is None:
                raise ValueError("jump: 'to' needs a UTC offset, e.g. 2026-01-15T12:00+06:00")
            return name, to
        if name == "inject":
            from services.events.scenarios import load_scenario, scenario_names

            scenario = cmd.get("scenario")
            if scenario not in scenario_names():  # a name of scenarios/, never a path
                raise ValueError(f"inject: no such scenario (known: {', '.join(scenario_names())})")
            return name, load_scenario(scenario)
        if name == "policy":
            policy, edge = cmd.get("id"), cmd.get("edge") or []
            if not isinstance(policy, str) or not isinstance(edge, list):
                raise ValueError("policy: needs 'id' (a policy id) and 'edge' (its transforms)")
            if self.edge_factory is None:
                raise ValueError("policy: this simulator was started without edge transforms")
            return name, self.edge_factory(policy, edge)
        return name, None

    def on_message(self, client, userdata, msg) -> None:
        try:
            name, value = self._parse(orjson.loads(msg.payload))
        except Exception as exc:  # a bad command is reported, never fatal
            log.warning("simulator control: ignoring %r: %s", msg.payload[:200], exc)
            with self.cond:
                self.pending.append({"state": "error", "error": str(exc)})
                self.cond.notify_all()
            return
        with self.cond:
            self.commands.append((name, value))
            self.cond.notify_all()


class Pacer:
    """When each event goes out: the publish loop's state machine.

    States: ``running`` (paced at ``speed`` simulated seconds per real second, or flat out
    when ``speed`` is None), ``paused`` (nothing goes out) and ``jumping`` (fast-forward at
    ``max(speed, JUMP_SPEED)`` up to a simulated time, through a pause; then back to
    running or paused). Transitions, each named after its command: :meth:`pause`,
    :meth:`resume`, :meth:`set_speed`, :meth:`jump`, and :meth:`arrive` (the jump reached
    its time). Each re-anchors the pacing at the current event, so a command never makes the
    events after it late or early. ``clock`` is injectable for tests.
    """

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic):
        self.speed = speed
        self.paused = False
        self.jump_to: float | None = None  # unix seconds to fast-forward to
        self.jump_iso: str | None = None
        self._clock = clock
        self._anchor: tuple[float, float] | None = None  # (wall, simulated) of pacing

    @property
    def state(self) -> str:
        return "jumping" if self.jump_to is not None else "paused" if self.paused else "running"

    def _reanchor(self, sim_t: float) -> None:
        self._anchor = (self._clock(), sim_t)

    def pause(self, sim_t: float) -> None:
        self.paused = True
        self._reanchor(sim_t)

    def resume(self, sim_t: float) -> None:
        self.paused = False
        self._reanchor(sim_t)

    def set_speed(self, speed: float | None, sim_t: float) -> None:
        self.speed = speed
        self._reanchor(sim_t)

    def jump(self, to: datetime, sim_t: float) -> None:
        self.jump_to, self.jump_iso = to.timestamp(), to.isoformat()
        self._reanchor(sim_t)

    def arrive(self, sim_t: float) -> dict[str, Any] | None:
        """The end of a jump when the event at ``sim_t`` reaches its time (its
        acknowledgement), else None."""
        if self.jump_to is None or sim_t < self.jump_to:
            return None
        ack = {"command": "jump", "state": "jumped", "to": self.jump_iso}
        self.jump_to = self.jump_iso = None
        self._reanchor(sim_t)  # pace on from here at the speed set
        return ack

    def due_in(self, sim_t: float) -> float | None:
        """Seconds until the event at ``sim_t`` is due (0: now), None while paused."""
        if self._anchor is None:
            self._reanchor(sim_t)  # paced from the first event
        if self.jump_to is not None:
            if self.speed is None:
                return 0.0
            pace = max(self.speed, JUMP_SPEED)
        elif self.paused:
            return None
        elif self.speed is None:
            return 0.0
        else:
            pace = self.speed
        assert self._anchor is not None
        wall, sim = self._anchor
        return max(0.0, wall + (sim_t - sim) / pace - self._clock())


class _Conn:
    """One paho client with a count of unacknowledged publishes."""

    def __init__(
        self,
        settings: BrokerSettings,
        index: int,
        tag: str,
        control: Control | None = None,
    ):
        target = settings.mqtt
        self.cond = threading.Condition()
        self.sent = 0
        self.acked = 0
        self.connected = False
        self.error: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"aqsim-{tag}-{index}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self.client.username_pw_set(target.username or "simulator", target.password)
        self.client.max_inflight_messages_set(MAX_INFLIGHT_PER_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.host, self.port = target.host, target.port
        self.control = control
        self.control_topic = control_topic(settings.mqtt_prefix)
        self.subscribed = threading.Event()
        if control is not None:
            self.client.on_message = control.on_message
            self.client.on_subscribe = lambda *a: self.subscribed.set()
            # a simulator that dies leaves "stopped", not its last "running", as its state
            will = orjson.dumps({"state": "stopped", "reason": "the simulator disconnected"})
            self.client.will_set(control_state_topic(settings.mqtt_prefix), will, 1, True)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.cond:
            if reason_code.is_failure:
                self.error = f"connection refused: {reason_code}"
            else:
                self.connected = True
                if self.control is not None:
                    client.subscribe(self.control_topic, qos=1)
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.cond:
            self.connected = False
            if reason_code.is_failure:
                log.warning(
                    "simulator connection to %s:%s lost: %s", self.host, self.port, reason_code
                )
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self.cond:
            self.acked += 1
            self.cond.notify_all()

    def start(self) -> None:
        self.client.connect(self.host, self.port, keepalive=60)
        self.client.loop_start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        with self.cond:
            while not self.connected and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        if not self.connected:
            self.stop()
            raise ConnectionError(
                self.error or f"no CONNACK from {self.host}:{self.port} in {CONNECT_TIMEOUT_S}s"
            )
        if self.control is not None and not self.subscribed.wait(CONNECT_TIMEOUT_S):
            self.stop()
            raise ConnectionError(f"no SUBACK for {self.control_topic}")

    def publish(self, topic: str, payload: bytes) -> None:
        with self.cond:
            while self.sent - self.acked >= MAX_INFLIGHT_PER_CLIENT:
                if not self.cond.wait(ACK_TIMEOUT_S):
                    raise TimeoutError(f"no PUBACK from the broker for {ACK_TIMEOUT_S}s")
            self.sent += 1
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            # NO_CONN: paho keeps the message and sends it after reconnecting
            with self.cond:
                self.sent -= 1
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")

    def flush(self) -> None:
        """Nothing to hand over: this connection publishes at once (see :class:`_Sender`)."""

    def wait_acked(self, deadline: float) -> bool:
        with self.cond:
            while self.acked < self.sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def stop(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class _Sender:
    """A publishing process with its own connection (:class:`_Conn`), fed in batches.

    Generation and pacing stay in the simulator's process; the paho work of publishing
    (packets, PUBACKs, the network thread) runs in these, each with its own interpreter, so
    that it does not share one GIL with generation. Events are handed over in batches of
    up to :data:`HANDOVER_BATCH` and at once whenever the publish loop is about to wait (a
    paced run, a pause), so an event never waits in a batch past its time. A full pipe
    holds the loop back, as a full connection does: the sender stops reading while its
    broker has :data:`MAX_INFLIGHT_PER_CLIENT` publishes unacknowledged.
    """

    def __init__(self, settings: BrokerSettings, index: int, tag: str):
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_sender_main,
            args=(settings, index, tag, child),
            name=f"aqsim-sender-{index}",
            daemon=True,
        )
        self.proc.start()  # starts importing now; start() waits for its connection
        child.close()
        self.buf: list[tuple[str, bytes]] = []
        self.sent = 0
        self.acked = 0
        self.done = False

    def start(self) -> None:
        if not self.pipe.poll(CONNECT_TIMEOUT_S + SENDER_STARTUP_S):
            raise ConnectionError(f"the publishing process did not connect in {CONNECT_TIMEOUT_S}s")
        msg = self.pipe.recv()
        if msg[0] != "ready":
            raise ConnectionError(msg[1])

    def publish(self, topic: str, payload: bytes) -> None:
        self.buf.append((topic, payload))
        self.sent += 1
        if len(self.buf) >= HANDOVER_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            try:
                self.pipe.send(self.buf)
            except OSError as exc:
                raise RuntimeError(f"a publishing process is gone: {exc}") from None
            self.buf = []

    def wait_acked(self, deadline: float) -> bool:
        if not self.done:
            self.flush()
            self.pipe.send(None)
            self.done = True
        if not self.pipe.poll(max(0.0, deadline - time.monotonic())):
            return False
        _state, sent, acked = self.pipe.recv()
        self.acked = acked
        return acked >= sent == self.sent

    def stop(self) -> None:
        if not self.done:
            with contextlib.suppress(OSError):  # already gone
                self.pipe.send(None)
            self.done = True
        self.proc.join(ACK_TIMEOUT_S)
        if self.proc.is_alive():
            self.proc.terminate()
        self.pipe.close()


def _sender_main(settings: BrokerSettings, index: int, tag: str, pipe: Any) -> None:
    """A publishing process: connect, publish every batch handed over, report the PUBACKs.

    One thread drives paho through its own-loop API (``loop_read``/``loop_write``/
    ``loop_misc``): a publish is written at once by the thread that makes it, with no
    network thread to wake and hand the GIL to for each message (what ``loop_start`` costs).
    """
    import select
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the simulator stops it, after the last batch
    conn = _Conn(settings, index, tag)
    client = conn.client

    def pump(timeout: float, handed: bool = False) -> bool:
        """Read what the broker sent (PUBACKs), keep the connection alive; with ``handed``
        wait for a batch too, and say whether one is there."""
        sock = client.socket()
        if sock is None:
            raise ConnectionError("the connection to the broker is lost")
        rlist = [sock, pipe] if handed else [sock]
        r, w, _ = select.select(rlist, [sock] if client.want_write() else [], [], timeout)
        if sock in r:
            client.loop_read()
        if w:
            client.loop_write()
        client.loop_misc()
        if client.socket() is None:  # paho closed it (connection lost)
            raise ConnectionError("the connection to the broker is lost")
        return pipe in r

    try:
        client.connect(conn.host, conn.port, keepalive=60)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not conn.connected and conn.error is None and time.monotonic() < deadline:
            pump(0.1)
        if not conn.connected:
            raise ConnectionError(conn.error or f"no CONNACK from {conn.host}:{conn.port}")
    except Exception as exc:
        pipe.send(("error", str(exc)))
        return
    pipe.send(("ready",))
    try:
        while True:
            while not pipe.poll(0):  # nothing handed over: answer the broker meanwhile
                pump(1.0, handed=True)
            batch = pipe.recv()
            if batch is None:
                break
            for topic, payload in batch:
                while conn.sent - conn.acked >= MAX_INFLIGHT_PER_CLIENT:
                    pump(1.0)
                conn.sent += 1
                client.publish(topic, payload, qos=1)
            pump(0)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while conn.acked < conn.sent and time.monotonic() < deadline:
            pump(0.1)
        pipe.send(("done", conn.sent, min(conn.acked, conn.sent)))
    except EOFError:  # the simulator is gone
        pass
    except ConnectionError as exc:
        log.error("publishing process %d: %s", index, exc)
        pipe.send(("done", conn.sent, min(conn.acked, conn.sent)))
    finally:
        client.disconnect()


@lru_cache(maxsize=4096)  # a camera minute or a gas interval: many events share a time
def _parse_ts(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


Rebuild = Callable[[list[Any], str], Iterator[dict]]


def publish(
    town_events: Iterable[dict],
    settings: BrokerSettings,
    *,
    speed: float | None,
    run_dir: Path,
    clients: int = 2,
    progress: bool = False,
    progress_total_s: float | None = None,
    control: bool = True,
    rebuild: Rebuild | None = None,
    info: dict[str, Any] | None = None,
    processes: int = 0,
    edge: EdgeStep | None = None,
    edge_factory: EdgeFactory | None = None,
) -> PublishSummary:
    """Publish events (QoS 1) through a pool of ``clients`` connections; wait for every PUBACK.

    ``speed=None`` publishes as fast as the broker acknowledges; otherwise ``speed``
    simulated seconds pass per real second. The ids handed to the broker are written to
    ``run_dir/published.ids``. ``progress_total_s`` (simulated seconds) sizes the progress bar.
    With ``control`` the run obeys commands (:class:`Control`); ``rebuild(scenarios, ts)``
    gives the stream from ``ts`` on with those scenarios' incidents in it (for ``inject``).
    ``info`` (run id, seed, ...) goes into the retained state. With ``processes`` the
    events are published by that many publishing processes (:class:`_Sender`, one
    connection each) instead of ``clients`` connections of this process. ``edge``: the
    policy's edge transforms in force from the start (a ``policy`` command replaces them);
    what they drop is not published (counted in ``withheld_at_edge``); ``edge_factory``
    builds the edge step of a ``policy`` command (without it the command is refused).
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}{threading.get_ident() % 1000:03d}"
    pool: list[Any]
    if processes > 0:
        pool = [_Sender(settings, i, tag) for i in range(processes)]
    else:
        pool = [_Conn(settings, i, tag) for i in range(max(1, clients))]
    ctl = Control(edge_factory) if control else None
    if edge is not None and not edge.kinds:
        edge = None
    ctl_conn = _Conn(settings, len(pool), tag, ctl) if ctl is not None else None
    status_topic = control_status_topic(settings.mqtt_prefix)
    state_topic = control_state_topic(settings.mqtt_prefix)
    started: list[Any] = [c for c in pool if isinstance(c, _Sender)]  # stopped in any case

    def flush() -> None:
        """Hand every event due so far to the publishing processes (before any wait)."""
        for c in pool:
            c.flush()

    summary = PublishSummary()
    kinds: Counter[str] = Counter()
    prefix = settings.mqtt_prefix
    t_wall0 = time.monotonic()
    bar = _Progress(progress, progress_total_s)
    n = 0
    withheld = 0  # events the edge step kept on the device
    pacer = Pacer(speed)
    injected: list[str] = []
    last_state = 0.0

    def state(name: str | None = None) -> Any:
        """The retained state: what a dashboard shows as the simulator's real state."""
        nonlocal last_state
        assert ctl_conn is not None
        last_state = time.monotonic()
        body = {
            **(info or {}),
            "state": name or pacer.state,
            "speed": pacer.speed,
            "sim_time": summary.last_ts,
            "published": n,
            "jump_to": pacer.jump_iso,
            "injected": injected,
            "reported_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        return ctl_conn.client.publish(state_topic, orjson.dumps(body), qos=1, retain=True)

    def status(ack: dict[str, Any]) -> Any:
        assert ctl_conn is not None
        body = {
            **ack,
            "state": ack.get("state") or ("paused" if pacer.paused else "running"),
            "speed": pacer.speed,
            "published": n,
            "sim_time": summary.last_ts,
        }
        info_ = ctl_conn.client.publish(status_topic, orjson.dumps(body), qos=1)
        state()
        return info_

    def apply(name: str, value: Any, sim_t: float) -> dict[str, Any]:
        """A command's transition; its acknowledgement."""
        nonlocal edge
        ack: dict[str, Any] = {"command": name}
        if name == "pause":
            pacer.pause(sim_t)
        elif name == "resume":
            pacer.resume(sim_t)
        elif name == "speed":
            pacer.set_speed(value, sim_t)
        elif name == "jump":
            pacer.jump(value, sim_t)
            ack["to"] = pacer.jump_iso
        elif name == "reset":  # carried out by the supervisor (aqkol up)
            ack["state"] = "resetting"
        elif name == "policy":
            edge = value if value.kinds else None
            ack.update(policy=value.policy, edge=len(value.transforms))
        return ack

    try:
        for conn in pool:
            conn.start()
            if conn not in started:
                started.append(conn)
        if ctl_conn is not None:
            ctl_conn.start()
            started.append(ctl_conn)
            status({"state": "running"})
        sim0: float | None = None
        source = iter(town_events)
        event = next(source, None)
        with open(run_dir / "published.ids", "w", encoding="ascii") as ids, bar:
            while event is not None:
                sim_t = _parse_ts(event["ts"]) if (ctl or speed is not None or bar.on) else 0.0
                if sim0 is None:
                    sim0 = sim_t
                    summary.first_ts = event["ts"]
                swapped = False
                while True:  # wait for this event's turn: pacing, pause, commands
                    injects: list[Any] = []
                    if ctl is not None:
                        commands, acks = ctl.take()
                        for name, value in commands:
                            if name == "inject":
                                injects.append(value)
                            else:
                                acks.append(apply(name, value, sim_t))
                        arrived = pacer.arrive(sim_t)
                        if arrived is not None:
                            acks.append(arrived)
                        if acks:
                            flush()  # "published": n in the acknowledgement is handed over
                        for ack in acks:
                            status(ack)
                    for sc in injects:  # received: acknowledged, then played
                        status({"command": "inject", "scenario": sc.name})
                    if injects and rebuild is not None:
                        names = [sc.name for sc in injects]
                        try:
                            source = rebuild(injects, event["ts"])
                        except Exception as exc:  # a scenario this town cannot play
                            log.warning("inject %s refused: %s", names, exc)
                            status({"state": "error", "error": f"inject {names}: {exc}"})
                            continue
                        injected.extend(names)
                        status({"command": "inject", "state": "injected", "scenarios": names})
                        event = next(source, None)
                        swapped = True
                        break
                    if ctl is not None and time.monotonic() - last_state >= STATE_EVERY_S:
                        state()
                    wait = pacer.due_in(sim_t)
                    if wait == 0:
                        break
                    flush()  # what is due goes out before the wait
                    if ctl is None:
                        assert wait is not None  # nothing pauses a run without commands
                        time.sleep(wait)
                        break
                    # a command wakes the wait; the state is refreshed meanwhile
                    ctl.wait(STATE_EVERY_S * 5 if wait is None else min(wait, STATE_EVERY_S))
                if swapped:
                    continue
                sent = minimize_at_edge(event, edge)  # before encoding: what leaves the device
                if sent is None:
                    withheld += 1
                    event = next(source, None)
                    continue
                topic = topic_for(sent["kind"], sent["source"], prefix)
                pool[n % len(pool)].publish(topic, orjson.dumps(sent))
                ids.write(event["id"] + "\n")
                n += 1
                kinds[event["kind"]] += 1
                summary.last_ts = event["ts"]
                if bar.on and n % 500 == 0:
                    bar.update(sim_t - sim0, n)
                event = next(source, None)
            flush()
            deadline = time.monotonic() + ACK_TIMEOUT_S
            complete = all([c.wait_acked(deadline) for c in pool])  # every one, not the first
            if not complete:
                log.warning("not every publish was acknowledged within %ss", ACK_TIMEOUT_S)
            if bar.on and sim0 is not None and summary.last_ts is not None:
                bar.update(_parse_ts(summary.last_ts) - sim0, n)
            if ctl_conn is not None:
                pacer.jump_to = pacer.jump_iso = None
                status({"state": "finished"}).wait_for_publish(5)
                state("finished").wait_for_publish(5)
    finally:
        for conn in started:
            conn.stop()
    summary.published = n
    summary.withheld_at_edge = withheld
    summary.acked = sum(min(c.acked, c.sent) for c in pool)
    summary.by_kind = dict(sorted(kinds.items()))
    summary.seconds = round(time.monotonic() - t_wall0, 3)
    summary.rate = round(n / summary.seconds, 1) if summary.seconds > 0 else 0.0
    log.info(
        "published %d events (%d acked) in %.1fs, %.0f/s",
        summary.published,
        summary.acked,
        summary.seconds,
        summary.rate,
    )
    return summary


class _Progress:
    """A rich progress bar over simulated time (or nothing)."""

    def __init__(self, on: bool, total_s: float | None):
        self.on = on
        self.total = total_s
        self._p: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.on:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("{task.fields[events]} events"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self._p.start()
            self._task = self._p.add_task("sim", total=self.total, events=0)
        return self

    def update(self, sim_s: float, n: int) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=sim_s, events=n)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()


def _skip_incidents(sink: Any) -> Any:
    """A truth sink that drops incident records (written once, marked as injected)."""
    return lambda rec: None if rec.get("kind") == "incident" else sink(rec)


def injected_scenario(first: Town, plays: list[tuple[Any, datetime]], now: datetime) -> Any:
    """One scenario for a town restarted at ``now``: the run's own incidents (at their own
    times) and the incidents of each scenario injected at a time, moved so that its first
    starts at the next full minute after that time (their spacing kept)."""
    from services.events.scenarios import Scenario

    epoch = Clock.starting(now)[0].epoch  # the restarted town's first midnight

    def moved(inc: Any, when: datetime) -> Any:
        local = when.astimezone(epoch.tzinfo)
        day = (local.date() - epoch.date()).days
        return inc.model_copy(update={"day": day, "at": local.time().replace(second=0)})

    incidents = []
    if first.scenario is not None:
        for inc in first.scenario.incidents:
            when = first.clock.dt(inc.t0)
            if when.date() >= epoch.date():
                incidents.append(moved(inc, when))
    for sc, when in plays:
        if not sc.incidents:
            continue
        at0 = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        t0 = min(i.t0 for i in sc.incidents)
        incidents += [moved(i, at0 + timedelta(milliseconds=i.t0 - t0)) for i in sc.incidents]
    offset = first.scenario.temperature_offset_c if first.scenario is not None else 0.0
    return Scenario(name="classroom", description="incidents injected in class",
                    temperature_offset_c=offset, incidents=incidents)  # fmt: skip


def default_run_id(seed: int, start: datetime) -> str:
    return f"seed{seed}-{start.strftime('%Y%m%dT%H%M')}"


def _counting(events: Iterator[dict], counts: Counter[str]) -> Iterator[dict]:
    for e in events:
        counts[e["kind"]] += 1
        yield e


def run(
    settings: BrokerSettings,
    seed: int,
    hours: float,
    speed: float | None,
    start: datetime | None = None,
    run_id: str | None = None,
    progress: bool = False,
    *,
    clients: int = 2,
    processes: int = 0,
    edge: EdgeStep | None = None,
    edge_factory: EdgeFactory | None = None,
    **town_params: Any,
) -> PublishSummary:
    """Build a town, publish ``hours`` of its events, and write ``runs/<run-id>/``.

    ``town_params`` go to :class:`~simulator.model.Town` (e.g. ``population_scale``,
    ``scenario``). ``edge``: a policy's edge transforms, applied by the devices from the
    start; ``edge_factory`` builds those of a ``policy`` command (:func:`publish`).
    """
    town = Town(seed=seed, start=start or DEFAULT_START, **town_params)
    if run_id is None:
        run_id = default_run_id(seed, town.start)
        if town.scenario is not None:
            run_id = f"{town.scenario.name}-{run_id}"
    run_dir = Path(settings.runs_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    households = household_truth(town.map.households, town.household_rows)
    with open(run_dir / "households.jsonl", "wb") as hf:
        for rec in households:
            hf.write(orjson.dumps(rec) + b"\n")
    generated: Counter[str] = Counter()
    truth_records = 0
    end = town.start + timedelta(hours=hours)
    injected: list[tuple[Any, datetime]] = []  # (scenario, when it was injected)
    with open(run_dir / "truth.jsonl", "wb") as tf:
        flushed = [time.monotonic()]

        def write_truth(rec: dict[str, Any]) -> None:
            nonlocal truth_records
            tf.write(orjson.dumps(rec) + b"\n")
            truth_records += 1
            if time.monotonic() - flushed[0] >= TRUTH_FLUSH_S:  # the teacher's view reads it
                tf.flush()
                flushed[0] = time.monotonic()

        def rebuild(scenarios: list[Any], ts: str) -> Iterator[dict]:
            """The town from ``ts`` on, with the scenarios' incidents starting a minute later."""
            now = datetime.fromisoformat(ts)
            plays = [*injected, *((sc, now) for sc in scenarios)]
            merged = injected_scenario(town, plays, now)
            later = Town(seed=seed, start=now, **{**town_params, "scenario": merged})
            injected[:] = plays  # only once the town took them
            left_h = max(0.0, (end - now).total_seconds() / 3600)
            new = len(merged.incidents) - sum(len(sc.incidents) for sc in scenarios)
            for rec in later.incidents(later.t_start + round(left_h * 3_600_000)):
                if int(rec["id"].rsplit("-", 1)[1]) > new:  # incident-N: the ones just injected
                    write_truth({**rec, "injected": True})
            return _counting(later.events(left_h, truth=_skip_incidents(write_truth)), generated)

        events = _counting(town.events(hours, truth=write_truth), generated)
        summary = publish(
            events,
            settings,
            speed=speed,
            run_dir=run_dir,
            clients=clients,
            processes=processes,
            progress=progress,
            progress_total_s=hours * 3600,
            rebuild=rebuild,
            edge=edge,
            edge_factory=edge_factory,
            info={
                "run_id": run_id,
                "run_dir": str(run_dir),
                "seed": seed,
                "start": town.start.isoformat(),
                "end": end.isoformat(),
            },
        )
    truth_db = write_truth_db(town, run_dir / "truth.sqlite", hours)
    info = {
        "run_id": run_id,
        "seed": seed,
        "hours": hours,
        "speed": speed,
        "start": town.start.isoformat(),
        "params": town.params(),
        "broker": f"{settings.mqtt.host}:{settings.mqtt.port}",
        "mqtt_prefix": settings.mqtt_prefix,
        "generated_by_kind": dict(sorted(generated.items())),
        "truth_records": truth_records,
        "truth_db": {"file": "truth.sqlite", "rows": truth_db},
        "scenario": None if town.scenario is None else town.scenario.model_dump(mode="json"),
        "households_file": "households.jsonl",
        "households_by_insulation": dict(
            sorted(Counter(h["insulation_class"] for h in households).items())
        ),
        "watchlist": [
            {
                "enrollment_id": e.id,
                "watchlist": e.watchlist,
                "resident": None if e.resident is None else Population.id(e.resident),
            }
            for e in town.watchlist
        ],
        "summary": summary.to_json(),
    }
    (run_dir / "run.json").write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    return summary
