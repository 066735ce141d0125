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
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.config import Settings

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


def _client(
    settings: Settings, client_id: str, protocol: int, cls: type = mqtt.Client, **kwargs: object
) -> mqtt.Client:
    client = cls(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
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


# A received PUBLISH: (topic, payload, packet id (0 at QoS 0), QoS)
Received = tuple[str, bytes, int, int]
READ_CHUNK = 1 << 18  # bytes taken from the socket per read


class BulkClient(mqtt.Client):
    """A paho client that reads the socket in large chunks and hands the QoS 0 and 1 PUBLISH
    packets of each chunk to ``on_publishes`` as one list.

    Stock paho reads one packet per ``select`` in three ``recv`` calls and builds an
    ``MQTTMessage`` (with its MQTT 5 properties, its topic decoded three times) per message:
    at the ingest's rates that was about as much CPU as decoding and storing the events.
    Here one ``recv`` takes what the broker has sent, up to READ_CHUNK bytes; the PUBLISH
    packets in it are cut out in one loop (topic, packet id, payload; MQTT 5 properties are
    skipped: the ingest reads none, and no topic alias is asked for). Every other packet
    (CONNACK, SUBACK, PINGRESP, DISCONNECT, QoS 2, a PUBLISH without a topic) goes to
    paho's own handler, in the order received; so does everything while ``on_publishes`` is
    None (then ``on_message`` is called as usual). Nothing is acknowledged here: with
    ``manual_ack`` the caller acknowledges, as with paho.
    """

    on_publishes: Callable[[list[Received]], None] | None = None

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rbuf = bytearray()
        self._rsock: object = None

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        if self.on_publishes is None and not self._rbuf:
            return super().loop_read(max_packets)
        sock = self._sock
        if sock is None:
            return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
        if sock is not self._rsock:  # a new connection: nothing of the old one is left
            self._rsock = sock
            self._rbuf.clear()
        try:
            data = self._sock_recv(READ_CHUNK)
        except BlockingIOError:
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        except OSError as err:
            log.debug("failed to receive on socket: %s", err)
            return self._loop_rc_handle(mqtt.MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not data:
            return self._loop_rc_handle(mqtt.MQTTErrorCode.MQTT_ERR_CONN_LOST)
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        buf = self._rbuf
        buf += data
        rc = self._handle_buffer(buf)
        if rc:
            return self._loop_rc_handle(rc)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_buffer(self, buf: bytearray) -> mqtt.MQTTErrorCode:
        """Handle every complete packet at the start of ``buf`` and remove them from it."""
        v5 = self._protocol == mqtt.MQTTv5
        out: list[Received] = []
        n, pos = len(buf), 0
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        while n - pos >= 2:
            cmd = buf[pos]
            # the remaining length: 1 to 4 bytes, 7 bits each
            i, length, shift, whole = pos + 1, 0, 0, False
            while i < n:
                b = buf[i]
                i += 1
                length |= (b & 127) << shift
                if b < 128:
                    whole = True
                    break
                shift += 7
                if shift > 21:
                    return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
            if not whole:
                break
            end = i + length
            if end > n:
                break
            qos = (cmd >> 1) & 3
            on_publishes = self.on_publishes
            if cmd & 0xF0 == 0x30 and qos < 2 and on_publishes is not None and length >= 2:
                tlen = (buf[i] << 8) | buf[i + 1]
                j = i + 2 + tlen
                if tlen and j <= end:
                    topic = buf[i + 2 : j].decode("utf-8", "replace")
                    mid = 0
                    if qos:
                        if j + 2 > end:
                            return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
                        mid = (buf[j] << 8) | buf[j + 1]
                        j += 2
                    if v5:  # skip the properties
                        plen, shift = 0, 0
                        while True:
                            if j >= end or shift > 21:
                                return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
                            b = buf[j]
                            j += 1
                            plen |= (b & 127) << shift
                            if b < 128:
                                break
                            shift += 7
                        j += plen
                    if j > end:
                        return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
                    out.append((topic, bytes(buf[j:end]), mid, qos))
                    pos = end
                    continue
            # any other packet: paho's own handling, after what came before it
            if out:
                self.on_publishes(out)  # type: ignore[misc]  # set: out was filled by it
                out = []
            self._in_packet = {
                "command": cmd,
                "have_remaining": 1,
                "remaining_count": list(buf[pos + 1 : i]),
                "remaining_mult": 1,
                "remaining_length": length,
                "packet": bytearray(buf[i:end]),
                "to_process": 0,
                "pos": 0,
            }
            pos = end
            try:
                rc = self._packet_handle()
            except mqtt.MalformedPacket:
                rc = mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
            finally:
                self._in_packet = {
                    "command": 0,
                    "have_remaining": 0,
                    "remaining_count": [],
                    "remaining_mult": 1,
                    "remaining_length": 0,
                    "packet": bytearray(b""),
                    "to_process": 0,
                    "pos": 0,
                }
            if rc or self._sock is None:
                break
        del buf[:pos]
        if out and self.on_publishes is not None:
            self.on_publishes(out)
        return rc


def persistent_client(
    settings: Settings,
    client_id: str,
    protocol: int,
    manual_ack: bool = True,
    bulk: bool = False,
) -> mqtt.Client:
    """A client whose session (subscriptions, queued QoS 1 messages) outlives disconnects;
    with ``bulk`` a :class:`BulkClient`."""
    # MQTT 5 asks for the lasting session at connect (clean_start=False, session expiry)
    session = {} if protocol == mqtt.MQTTv5 else {"clean_session": False}
    kw = {"manual_ack": manual_ack, **session}
    client = _client(settings, client_id, protocol, BulkClient if bulk else mqtt.Client, **kw)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client


def plain_client(settings: Settings, client_id: str | None = None) -> mqtt.Client:
    """A 3.1.1 client for publishing (works with amqtt and Mosquitto)."""
    cid = client_id or f"aqkol-{uuid.uuid4().hex[:10]}"
    return _client(settings, cid, mqtt.MQTTv311)
