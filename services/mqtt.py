"""paho-mqtt clients configured the same way for every service.

MQTT 5 is preferred (Receive Maximum lets a broker keep thousands of QoS 1 messages in flight
while the ingest writes a batch); the embedded amqtt broker speaks only 3.1.1, so ``auto``
probes and falls back.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.config import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


def _client(settings: Settings, client_id: str, protocol: int, **kwargs: object) -> mqtt.Client:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs
    )
    target = settings.mqtt
    settings.require_secret("a password in AQKOL_MQTT_URL", target.password)
    # amqtt keeps sessions only for clients that give a user name
    client.username_pw_set(target.username or "aqkol", target.password)
    return client


def _mqtt5_accepted(host: str, port: int, user: str, password: str | None) -> bool:
    """Send one MQTT 5 CONNECT on a raw socket: True if the broker accepts version 5."""

    def utf8(v: str) -> bytes:
        b = v.encode()
        return len(b).to_bytes(2, "big") + b

    flags = 0x82 | (0x40 if password is not None else 0)  # user name, clean start
    body = b"\x00\x04MQTT\x05" + bytes([flags]) + b"\x00\x0a\x00"
    body += utf8(f"aqkol-probe-{uuid.uuid4().hex[:8]}") + utf8(user)
    if password is not None:
        body += utf8(password)
    length, n = b"", len(body)
    while True:
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"\x10" + length + body)
        sock.settimeout(2.0)  # Mosquitto answers at once; amqtt (3.1.1 only) stays silent
        try:
            reply = sock.recv(16)
        except (ConnectionResetError, TimeoutError):
            return False
        ok = len(reply) >= 4 and reply[0] == 0x20 and reply[3] == 0x00
        if ok:
            sock.sendall(b"\xe0\x00")  # DISCONNECT
        return ok


def detect_protocol(settings: Settings, deadline_s: float = 30.0) -> int:
    """The MQTT version to use: from settings, or probed (5, else 3.1.1) until ``deadline_s``."""
    if settings.mqtt_protocol == "5":
        return mqtt.MQTTv5
    if settings.mqtt_protocol == "3.1.1":
        return mqtt.MQTTv311
    target = settings.mqtt
    end = time.monotonic() + deadline_s
    while True:
        try:
            ok = _mqtt5_accepted(
                target.host, target.port, target.username or "aqkol", target.password
            )
            return mqtt.MQTTv5 if ok else mqtt.MQTTv311
        except OSError as exc:  # broker not up yet
            if time.monotonic() > end:
                raise ConnectionError(
                    f"no MQTT broker at {target.host}:{target.port}: {exc}"
                ) from exc
            time.sleep(0.2)


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
    # MQTT 5 asks for the lasting session at connect (clean_start=False, session expiry)
    session = {} if protocol == mqtt.MQTTv5 else {"clean_session": False}
    client = _client(settings, client_id, protocol, manual_ack=manual_ack, **session)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client


def plain_client(settings: Settings, client_id: str | None = None) -> mqtt.Client:
    """A 3.1.1 client for publishing (works with amqtt and Mosquitto)."""
    cid = client_id or f"aqkol-{uuid.uuid4().hex[:10]}"
    return _client(settings, cid, mqtt.MQTTv311)
