"""paho-mqtt clients configured the same way for every service.

MQTT 5 is preferred (Receive Maximum lets a broker keep thousands of QoS 1 messages in flight
while the ingest writes a batch); the embedded amqtt broker speaks only 3.1.1, so ``auto``
probes and falls back.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.config import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


def _new_client(
    settings: Settings, client_id: str, protocol: int, manual_ack: bool = False
) -> mqtt.Client:
    kwargs: dict = {"client_id": client_id, "protocol": protocol, "manual_ack": manual_ack}
    if protocol != mqtt.MQTTv5:
        kwargs["clean_session"] = False
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    target = settings.mqtt
    # amqtt keeps sessions only for clients that give a user name
    client.username_pw_set(target.username or "aqkol", target.password)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client


def detect_protocol(settings: Settings, deadline_s: float = 30.0) -> int:
    """The MQTT version to use: from settings, or probed (5, else 3.1.1) until ``deadline_s``."""
    if settings.mqtt_protocol == "5":
        return mqtt.MQTTv5
    if settings.mqtt_protocol == "3.1.1":
        return mqtt.MQTTv311
    target = settings.mqtt
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        probe = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"aqkol-probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        probe.username_pw_set(target.username or "aqkol", target.password)
        result: dict[str, bool] = {}
        done = threading.Event()

        def on_connect(c, u, flags, rc, props, _r=result, _d=done):  # noqa: ANN001
            _r["ok"] = not rc.is_failure
            _d.set()

        def on_disconnect(c, u, flags, rc, props, _r=result, _d=done):  # noqa: ANN001
            _r.setdefault("ok", False)
            _d.set()

        probe.on_connect = on_connect
        probe.on_disconnect = on_disconnect
        try:
            probe.connect(target.host, target.port, keepalive=10)
        except OSError as exc:  # broker not up yet
            last = exc
            time.sleep(0.2)
            continue
        probe.loop_start()
        done.wait(5)
        probe.loop_stop()
        ok = result.get("ok", False)
        try:
            probe.disconnect()
        except Exception:  # noqa: BLE001  (closing a refused probe)
            pass
        return mqtt.MQTTv5 if ok else mqtt.MQTTv311
    raise ConnectionError(f"no MQTT broker at {target.host}:{target.port}: {last}")


def connect_properties(protocol: int, receive_maximum: int) -> Properties | None:
    """MQTT 5 CONNECT properties for a persistent session with a large receive window."""
    if protocol != mqtt.MQTTv5:
        return None
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    props.ReceiveMaximum = max(1, min(receive_maximum, 65535))
    return props


def persistent_client(
    settings: Settings, client_id: str, protocol: int, manual_ack: bool = True
) -> mqtt.Client:
    """A client whose session (subscriptions, queued QoS 1 messages) outlives disconnects."""
    return _new_client(settings, client_id, protocol, manual_ack=manual_ack)


def plain_client(settings: Settings, client_id: str | None = None) -> mqtt.Client:
    """A 3.1.1 client for publishing (works with amqtt and Mosquitto)."""
    cid = client_id or f"aqkol-{uuid.uuid4().hex[:10]}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
    target = settings.mqtt
    client.username_pw_set(target.username or "aqkol", target.password)
    return client
