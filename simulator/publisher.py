"""Publish a town's events to the broker, and keep the run folder.

A small pool of paho-mqtt clients (MQTT 3.1.1, QoS 1, round-robin) carries the whole town:
the device id is in the topic, not in a connection per device. Each client keeps a bounded
number of unacknowledged publishes, so "as fast as possible" cannot run away from a slow
broker. With a ``speed`` the publisher paces by simulated time: ``speed`` simulated seconds
per real second.

The run folder ``runs/<run-id>/`` holds what the command center never sees:
``truth.jsonl`` (ground truth per event, and first a record per scenario incident, kind
``incident``), ``truth.sqlite`` (residents, households, every resident's stays and camera
sightings over the run, incidents: :mod:`simulator.truth`), ``households.jsonl`` (the
hidden household attributes: insulation class, heating, fuel, k), ``published.ids`` (ids
handed to the broker) and ``run.json`` (seed, parameters, scenario, counts).

While it runs, the publisher obeys ``{"command": "pause" | "resume" | "speed"}`` on
``<prefix>aqkol/control/simulator`` (outside ``aqkol/v1/``: the ingest never stores it) and
acknowledges each on ``.../status`` (:class:`Control`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from services.config import Settings
from services.events import topic_for
from simulator.clock import DEFAULT_START
from simulator.gas import household_truth
from simulator.model import Town
from simulator.people import Population
from simulator.truth import write_truth_db

log = logging.getLogger(__name__)

CONTROL_ROOT = "aqkol/control/simulator"
MAX_INFLIGHT_PER_CLIENT = 2000  # unacknowledged QoS 1 publishes per connection
CONNECT_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 60.0


@dataclass
class PublishSummary:
    published: int = 0
    acked: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rate: float = 0.0  # published per second of wall time
    first_ts: str | None = None
    last_ts: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def control_topic(prefix: str = "") -> str:
    """Where the simulator takes commands: outside ``aqkol/v1/``, so the ingest never sees it."""
    return f"{prefix}{CONTROL_ROOT}"


def control_status_topic(prefix: str = "") -> str:
    """Where the simulator acknowledges commands (``{"state": ..., "published": n, ...}``)."""
    return f"{prefix}{CONTROL_ROOT}/status"


class Control:
    """Pause, resume and speed commands received over MQTT, applied between two events.

    Commands (JSON on :func:`control_topic`): ``{"command": "pause"}``, ``{"command":
    "resume"}``, ``{"command": "speed", "value": 600}`` (simulated seconds per real second,
    or ``"max"``). Each is acknowledged on :func:`control_status_topic` once in force: a
    pause after the last event before it, with the count published so far.
    """

    def __init__(self, speed: float | None):
        self.cond = threading.Condition()
        self.paused = False
        self.speed = speed
        self.version = 0  # bumped by every command: the publish loop re-anchors its pacing
        self.pending: list[dict[str, Any]] = []  # acknowledgements to send from the loop

    def on_message(self, client, userdata, msg) -> None:
        try:
            cmd = orjson.loads(msg.payload)
            name = cmd["command"]
            if name == "speed":
                value = cmd.get("value")
                speed = None if value in (None, "max") else float(value)
                if speed is not None and speed <= 0:
                    raise ValueError("speed must be positive")
            elif name not in ("pause", "resume"):
                raise ValueError(f"unknown command {name!r}")
        except Exception as exc:  # a bad command is reported, never fatal
            log.warning("simulator control: ignoring %r: %s", msg.payload[:200], exc)
            with self.cond:
                self.pending.append({"state": "error", "error": str(exc)})
                self.cond.notify_all()
            return
        with self.cond:
            if name == "pause":
                self.paused = True
            elif name == "resume":
                self.paused = False
            else:
                self.speed = speed
            self.version += 1
            self.pending.append({"command": name})
            self.cond.notify_all()


class _Conn:
    """One paho client with a count of unacknowledged publishes."""

    def __init__(
        self,
        settings: Settings,
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


def _parse_ts(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def publish(
    town_events: Iterable[dict],
    settings: Settings,
    *,
    speed: float | None,
    run_dir: Path,
    clients: int = 2,
    progress: bool = False,
    progress_total_s: float | None = None,
    control: bool = True,
) -> PublishSummary:
    """Publish events (QoS 1) through a pool of ``clients`` connections; wait for every PUBACK.

    ``speed=None`` publishes as fast as the broker acknowledges; otherwise ``speed``
    simulated seconds pass per real second. The ids handed to the broker are written to
    ``run_dir/published.ids``. ``progress_total_s`` (simulated seconds) sizes the progress bar.
    With ``control`` the run obeys pause, resume and speed commands (:class:`Control`).
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}{threading.get_ident() % 1000:03d}"
    pool = [_Conn(settings, i, tag) for i in range(max(1, clients))]
    ctl = Control(speed) if control else None
    ctl_conn = _Conn(settings, len(pool), tag, ctl) if ctl is not None else None
    status_topic = control_status_topic(settings.mqtt_prefix)
    started: list[_Conn] = []
    summary = PublishSummary()
    kinds: Counter[str] = Counter()
    prefix = settings.mqtt_prefix
    t_wall0 = time.monotonic()
    bar = _Progress(progress, progress_total_s)
    n = 0
    cur_speed = speed
    paused = False

    def status(state: dict[str, Any]) -> Any:
        assert ctl_conn is not None
        body = {
            **state,
            "state": state.get("state") or ("paused" if paused else "running"),
            "speed": cur_speed,
            "published": n,
        }
        return ctl_conn.client.publish(status_topic, orjson.dumps(body), qos=1)

    try:
        for conn in pool:
            conn.start()
            started.append(conn)
        if ctl_conn is not None:
            ctl_conn.start()
            started.append(ctl_conn)
            status({"state": "running"})
        sim0: float | None = None
        anchor_wall, anchor_sim, seen = t_wall0, 0.0, 0
        with open(run_dir / "published.ids", "w", encoding="ascii") as ids, bar:
            for event in town_events:
                sim_t = _parse_ts(event["ts"]) if (ctl or speed is not None or bar.on) else 0.0
                if sim0 is None:
                    sim0 = anchor_sim = sim_t
                    summary.first_ts = event["ts"]
                while True:  # wait for this event's turn: pacing, pause, commands
                    if ctl is not None:
                        with ctl.cond:
                            acks, ctl.pending = ctl.pending, []
                            paused, cur_speed, version = ctl.paused, ctl.speed, ctl.version
                        for ack in acks:
                            status(ack)
                        if version != seen:  # a command: pace on from this event
                            seen = version
                            anchor_wall, anchor_sim = time.monotonic(), sim_t
                        if paused:
                            with ctl.cond:
                                while ctl.paused and not ctl.pending:
                                    ctl.cond.wait()
                            continue
                    if cur_speed is None:
                        break
                    delay = anchor_wall + (sim_t - anchor_sim) / cur_speed - time.monotonic()
                    if delay <= 0:
                        break
                    if ctl is None:
                        time.sleep(delay)
                        break
                    with ctl.cond:
                        if ctl.version == seen and not ctl.pending:
                            ctl.cond.wait(delay)
                topic = topic_for(event["kind"], event["source"], prefix)
                pool[n % len(pool)].publish(topic, orjson.dumps(event))
                ids.write(event["id"] + "\n")
                n += 1
                kinds[event["kind"]] += 1
                summary.last_ts = event["ts"]
                if bar.on and n % 500 == 0:
                    bar.update(sim_t - sim0, n)
            deadline = time.monotonic() + ACK_TIMEOUT_S
            complete = all(c.wait_acked(deadline) for c in pool)
            if not complete:
                log.warning("not every publish was acknowledged within %ss", ACK_TIMEOUT_S)
            if bar.on and sim0 is not None and summary.last_ts is not None:
                bar.update(_parse_ts(summary.last_ts) - sim0, n)
            if ctl_conn is not None:
                status({"state": "finished"}).wait_for_publish(5)
    finally:
        for conn in started:
            conn.stop()
    summary.published = n
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


def default_run_id(seed: int, start: datetime) -> str:
    return f"seed{seed}-{start.strftime('%Y%m%dT%H%M')}"


def _counting(events: Iterator[dict], counts: Counter[str]) -> Iterator[dict]:
    for e in events:
        counts[e["kind"]] += 1
        yield e


def run(
    settings: Settings,
    seed: int,
    hours: float,
    speed: float | None,
    start: datetime | None = None,
    run_id: str | None = None,
    progress: bool = False,
    *,
    clients: int = 2,
    **town_params: Any,
) -> PublishSummary:
    """Build a town, publish ``hours`` of its events, and write ``runs/<run-id>/``.

    ``town_params`` go to :class:`~simulator.model.Town` (e.g. ``population_scale``,
    ``scenario``).
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
    with open(run_dir / "truth.jsonl", "wb") as tf:

        def write_truth(rec: dict[str, Any]) -> None:
            nonlocal truth_records
            tf.write(orjson.dumps(rec) + b"\n")
            truth_records += 1

        events = _counting(town.events(hours, truth=write_truth), generated)
        summary = publish(
            events,
            settings,
            speed=speed,
            run_dir=run_dir,
            clients=clients,
            progress=progress,
            progress_total_s=hours * 3600,
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
