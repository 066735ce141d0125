"""The API's line to the simulator over MQTT: commands out, acknowledgements and state in.

The simulator keeps its state (paused or running, speed, simulated time, run id) on a retained
topic, so the link knows the real state as soon as it subscribes, whoever clicked what.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from services.config import Settings
from services.events.topics import control_state_topic, control_status_topic, control_topic
from services.mqtt import plain_client

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


class SimulatorLink:
    """One MQTT connection, started on first use; safe to share between request threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        prefix = settings.mqtt_prefix
        self.control = control_topic(prefix)
        self.status_topic = control_status_topic(prefix)
        self.state_topic = control_state_topic(prefix)
        self.cond = threading.Condition()
        self.state: dict[str, Any] | None = None
        self.state_seen: float | None = None  # monotonic time of the last state message
        self.acks: list[tuple[int, dict[str, Any]]] = []  # (sequence number, ack)
        self.n_acks = 0
        self.connected = False
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _start(self) -> mqtt.Client:
        with self._lock:
            if self._client is not None:
                return self._client
            client = plain_client(self.settings)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message
            client.reconnect_delay_set(min_delay=1, max_delay=5)
            target = self.settings.mqtt
            client.connect_async(target.host, target.port, keepalive=30)
            client.loop_start()
            self._client = client
        with self.cond:
            self.cond.wait_for(lambda: self.connected, CONNECT_TIMEOUT_S)
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("classroom link refused by the broker: %s", reason_code)
            return
        client.subscribe([(self.state_topic, 1), (self.status_topic, 1)])
        with self.cond:
            self.connected = True
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.cond:
            self.connected = False

    def _on_message(self, client, userdata, msg) -> None:
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(body, dict):
            return
        with self.cond:
            if msg.topic == self.state_topic:
                self.state, self.state_seen = body, time.monotonic()
            else:
                self.n_acks += 1
                self.acks.append((self.n_acks, body))
                del self.acks[:-100]
            self.cond.notify_all()

    def current(self, wait_s: float = 1.0) -> dict[str, Any] | None:
        """The simulator's last reported state (waits briefly for the retained one)."""
        self._start()
        with self.cond:
            self.cond.wait_for(lambda: self.state is not None, wait_s)
            if self.state is None:
                return None
            age = time.monotonic() - (self.state_seen or 0)
            return {**self.state, "age_s": round(age, 1)}

    def send(self, body: dict[str, Any], wait_s: float = 5.0) -> dict[str, Any] | None:
        """Publish a command; the simulator's acknowledgement of it (or its error), if any
        arrives within ``wait_s``."""
        client = self._start()
        if not self.connected:
            raise ConnectionError(f"no MQTT broker at {self.settings.mqtt.host}")
        with self.cond:
            seen = self.n_acks
        client.publish(self.control, orjson.dumps(body), qos=1).wait_for_publish(wait_s)
        name = body["command"]

        def answered() -> dict[str, Any] | None:
            for n, ack in self.acks:
                if n > seen and (ack.get("command") == name or ack.get("state") == "error"):
                    return ack
            return None

        with self.cond:
            self.cond.wait_for(lambda: answered() is not None, wait_s)
            ack = answered()
            if ack is not None:  # the state the simulator publishes right after its ack
                seen_at = self.state_seen or 0
                self.cond.wait_for(lambda: (self.state_seen or 0) > seen_at, 0.5)
            return ack

    def announce(self, body: dict[str, Any]) -> None:
        """Publish a command retained, without waiting for the broker or an answer (in a
        thread of its own: a switch is not held up by a broker that is away)."""

        def go() -> None:
            try:
                client = self._start()
                client.publish(self.control, orjson.dumps(body), qos=1, retain=True)
            except OSError as exc:
                log.warning("could not tell the simulator %s: %s", body.get("command"), exc)

        threading.Thread(target=go, name="aqkol-announce", daemon=True).start()

    def close(self) -> None:
        """Disconnect."""
        with self._lock:
            if self._client is not None:
                self._client.loop_stop()
                self._client.disconnect()
                self._client = None
