"""The classroom on the school network: the machine's address, the class's QR code, and the
check that refuses a LAN start with a broker anyone may use.

``aqkol up --lan`` serves the dashboard and the API on every interface (students reach the
dashboard at the machine's address; the services still talk to each other on 127.0.0.1),
prints the class address with a QR code (the dashboard draws the same code on the teacher's
page).
"""

from __future__ import annotations

import io
import secrets
import socket
import time
import uuid

import paho.mqtt.client as mqtt
import segno

ALL_INTERFACES = "0.0.0.0"
# addresses only used to ask the kernel which interface routes outwards (a UDP "connect"
# sends no packet); the documentation range first, then a private and a public one
_PROBES = ("192.0.2.1", "10.255.255.255", "8.8.8.8")


class LanError(RuntimeError):
    """The LAN mode cannot start (no network address, or an open broker)."""


def lan_address() -> str:
    """The machine's IPv4 address on its network (the interface of the default route)."""
    for target in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 9))
            except OSError:
                continue
            address = s.getsockname()[0]
            if address and not address.startswith("127.") and address != ALL_INTERFACES:
                return address
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = ""
    if address and not address.startswith("127."):
        return address
    raise LanError(
        "this machine has no network address besides 127.0.0.1: connect it to the school "
        "network, or name the address with --lan-address"
    )


def class_url(address: str, port: int) -> str:
    """The address students open, e.g. ``http://192.168.1.20:8050/``."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


def qr_text(url: str) -> str:
    """The QR code of ``url`` drawn with block characters, for a terminal."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def broker_is_open(host: str, port: int, timeout_s: float = 10.0) -> bool:
    """Whether the broker lets in someone without an account: a made-up user name with a
    random password (a broker with anonymous access, or one that takes any name, says yes)."""
    probe = f"aqkol-lan-probe-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=probe, protocol=mqtt.MQTTv311)
    client.username_pw_set(probe, secrets.token_urlsafe(16))
    answer: dict[str, bool] = {}

    def on_connect(_c, _u, _flags, reason, _props) -> None:
        answer["accepted"] = not reason.is_failure

    def on_disconnect(_c, _u, _flags, _reason, _props) -> None:
        answer.setdefault("accepted", False)  # dropped without a CONNACK: refused

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(host, port, keepalive=5)
    except OSError:
        return False
    end = time.monotonic() + timeout_s
    try:
        while "accepted" not in answer and time.monotonic() < end:
            client.loop(0.2)
    finally:
        client.disconnect()
    return answer.get("accepted", False)
