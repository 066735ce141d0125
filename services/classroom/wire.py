"""The wire view: what an eavesdropper on the broker receives, as a small live sample.

:class:`WireTap` is a read-only subscription to the event stream (the ``api`` account may read
it, never publish to it: ``services/mqtt_accounts.py``) that keeps the newest raw messages in
a ring buffer. It subscribes on the first read of the sample and unsubscribes after
:data:`IDLE_S` without one, so the API carries the stream only while someone watches it.
:func:`describe` turns a raw message into its fields, each with the privacy category the
contract declares for it; what a caller may see of them is the release gate's decision
(``GET /wire/sample``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from services.config import Settings
from services.events import KINDS, subscription
from services.events.contract import Privacy
from services.events.topics import parse_topic
from services.mqtt import plain_client

log = logging.getLogger(__name__)

RING = 200  # raw messages kept
IDLE_S = 30.0  # unsubscribe after this long without a read
CONNECT_TIMEOUT_S = 5.0


class WireTap:
    """A lazily started, read-only subscription keeping the newest :data:`RING` messages."""

    def __init__(self, settings: Settings, ring: int = RING):
        self.settings = settings
        self.filter = subscription(settings.mqtt_prefix)
        self.ring: deque[tuple[float, str, bytes]] = deque(maxlen=ring)
        self.seen = 0  # messages received since the tap started
        self.cond = threading.Condition()
        self.subscribed = False
        self.last_read = 0.0
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._client is not None:
                return
            client = plain_client(self.settings)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            client.reconnect_delay_set(min_delay=1, max_delay=5)
            target = self.settings.mqtt
            client.connect_async(target.host, target.port, keepalive=30)
            client.loop_start()
            self._client = client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("wire tap refused by the broker: %s", reason_code)
            return
        client.subscribe(self.filter, qos=0)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self.cond:
            self.subscribed = True
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.cond:
            self.subscribed = False

    def _on_message(self, client, userdata, msg) -> None:
        now = time.monotonic()
        with self.cond:
            self.ring.append((time.time(), msg.topic, msg.payload))
            self.seen += 1
            idle = now - self.last_read > IDLE_S
            self.cond.notify_all()
        if idle:  # nobody watches: stop carrying the stream
            self.close()

    def sample(self, n: int = 50, wait_s: float = 1.0) -> list[tuple[float, str, bytes]]:
        """The newest ``n`` raw messages (received time, topic, payload), newest last."""
        self.last_read = time.monotonic()
        first = self._client is None
        self._start()
        with self.cond:  # a first read waits a moment for the subscription and a message
            self.cond.wait_for(lambda: self.subscribed and self.ring, wait_s if first else 0)
            return list(self.ring)[-n:]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        with self.cond:
            self.subscribed = False


def category_of(kind: str, field: str) -> str:
    """The privacy category the contract declares for ``field`` of ``kind`` (envelope too)."""
    model = KINDS.get(kind)
    if field in ("geo", "ts"):
        return Privacy.QUASI.value
    if field == "source":
        return (model.SOURCE_PRIVACY if model else Privacy.IDENTIFIER).value
    if field in ("id", "kind", "schema"):
        return Privacy.TELEMETRY.value
    if model is None:
        return Privacy.IDENTIFIER.value  # an undeclared field: assume the worst
    return model.privacy().get(field.removeprefix("data."), Privacy.IDENTIFIER).value


def describe(topic: str, payload: bytes, prefix: str = "") -> dict[str, Any]:
    """A raw message as the wire view shows it: its topic, kind and every field it carries
    with the field's privacy category (a payload that is not an event: shown as bytes)."""
    parsed = parse_topic(topic, prefix)
    kind = parsed[0] if parsed else ""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return {"topic": topic, "kind": kind, "bytes": len(payload), "fields": []}
    kind = str(body.get("kind") or kind)
    fields = []
    for name in ("source", "ts", "geo"):
        if name in body:
            fields.append({"name": name, "value": body[name], "category": category_of(kind, name)})
    data = body.get("data")
    for name, value in data.items() if isinstance(data, dict) else ():
        fields.append({"name": f"data.{name}", "value": value, "category": category_of(kind, name)})
    return {"topic": topic, "kind": kind, "bytes": len(payload), "fields": fields}
