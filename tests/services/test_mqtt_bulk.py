"""The ingest's bulk MQTT reader: every PUBLISH of a read handed over once, in order, the
other packets to paho, a packet cut by the end of a read kept for the next one; and through
a real Mosquitto, a stream of QoS 1 messages arrives whole."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt
import pytest

from services.mqtt import BulkClient
from tests.support import start_mosquitto, stop, wait_until


def _length(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _publish(topic: str, payload: bytes, mid: int, qos: int, v5: bool, props: bytes = b"") -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += _length(len(props)) + props
    body += payload
    return bytes([0x30 | (qos << 1)]) + _length(len(body)) + body


def _client(protocol: int) -> tuple[BulkClient, list]:
    got: list = []
    c = BulkClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol)
    c.on_publishes = lambda msgs: got.append(list(msgs))
    return c, got


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311])
def test_publishes_of_one_read_are_handed_over_together_and_in_order(protocol):
    v5 = protocol == mqtt.MQTTv5
    c, got = _client(protocol)
    big = b"x" * 300  # a remaining length of two bytes
    # a user property and a message expiry, which the reader skips
    props = b"\x26\x00\x01k\x00\x01v\x02\x00\x00\x00\x3c" if v5 else b""
    first = _publish("aqkol/v1/gas.reading/gas-0001", b'{"a":1}', 7, 1, v5, props)
    second = _publish("aqkol/v1/camera.crowd/cam-001", big, 0, 0, v5)
    third = _publish("aqkol/v1/env.reading/env-01", b"{}", 65535, 1, v5)
    buf = bytearray(first + second + third[:5])  # the third is cut by the end of the read
    assert c._handle_buffer(buf) == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert got == [
        [
            ("aqkol/v1/gas.reading/gas-0001", b'{"a":1}', 7, 1),
            ("aqkol/v1/camera.crowd/cam-001", big, 0, 0),
        ]
    ]
    assert bytes(buf) == third[:5]  # kept for the next read
    buf += third[5:]
    c._handle_buffer(buf)
    assert got[-1] == [("aqkol/v1/env.reading/env-01", b"{}", 65535, 1)]
    assert not buf


def test_other_packets_go_to_paho_between_the_publishes_around_them():
    c, got = _client(mqtt.MQTTv5)
    seen = []
    c._handle_pingresp = lambda: seen.append(("pingresp", len(got))) or 0  # type: ignore[method-assign]
    a = _publish("aqkol/v1/x/a", b"1", 1, 1, True)
    b = _publish("aqkol/v1/x/b", b"2", 2, 1, True)
    buf = bytearray(a + b"\xd0\x00" + b)  # PUBLISH, PINGRESP, PUBLISH
    here, there = socket.socketpair()
    c._sock = here  # connected: the reader goes on after a packet paho handled
    try:
        c._handle_buffer(buf)
    finally:
        c._sock = None
        here.close()
        there.close()
    assert seen == [("pingresp", 1)]  # after the first PUBLISH was handed over
    assert [m[2] for batch in got for m in batch] == [1, 2]


def test_a_malformed_publish_is_a_protocol_error_not_a_crash():
    c, got = _client(mqtt.MQTTv5)
    bad = bytes([0x32, 4]) + b"\x00\x01a" + b"\x00"  # QoS 1, topic "a", half a packet id
    assert c._handle_buffer(bytearray(bad)) == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert got == []


def test_a_stream_through_mosquitto_arrives_whole(tmp_path):
    broker, port = start_mosquitto(tmp_path)
    try:
        n = 5000
        got: list = []
        done = threading.Event()
        sub = BulkClient(
            mqtt.CallbackAPIVersion.VERSION2, client_id="bulk", protocol=mqtt.MQTTv5,
            manual_ack=True,
        )  # fmt: skip

        def take(msgs):
            got.extend(msgs)
            for _t, _p, mid, qos in msgs:
                sub.ack(mid, qos)
            if len(got) >= n:
                done.set()

        sub.on_publishes = take
        subscribed = threading.Event()
        sub.on_subscribe = lambda *a: subscribed.set()
        sub.on_connect = lambda cl, *a: cl.subscribe("t/#", qos=1)
        sub.connect("127.0.0.1", port)
        sub.loop_start()
        assert subscribed.wait(60)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub")
        pub.max_inflight_messages_set(1000)
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        infos = [pub.publish(f"t/{i % 7}", f"payload {i}".encode(), qos=1) for i in range(n)]
        wait_until(lambda: all(i.is_published() for i in infos), 120, "the publisher's acks")
        assert done.wait(120)
        assert sorted(p for _t, p, _m, _q in got) == sorted(
            f"payload {i}".encode() for i in range(n)
        )
        assert all(t.startswith("t/") and q == 1 for t, _p, _m, q in got)
        pub.disconnect()
        pub.loop_stop()
        sub.disconnect()
        sub.loop_stop()
    finally:
        stop(broker)
