"""Each transform on each kind of the contract, and the shipped policies."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import h3
import pytest

from services.events import KINDS, decode
from services.policy.active import POLICIES_DIR, PolicyBook
from services.policy.apply import Minimizer
from services.policy.spec import PolicyError, parse_policy
from tests.factories import T0, make_event, message

SAMPLES = {
    "access.entry": ("turnstile-akimat", {"badge": "emp-0121", "direction": "in",
                     "decision": "granted", "method": "face", "likelihood": 0.889}),
    "camera.crowd": ("cam-001", {"count": 7, "window_s": 60}),
    "camera.face_match": ("cam-040", {"enrollment_id": "wl-002", "name": "Шубина Регина",
                          "likelihood": 0.765, "watchlist": "wanted"}),
    "camera.object": ("cam-015", {"class_type": "abandoned_bag", "likelihood": 0.635}),
    "env.reading": ("env-01", {"temperature_c": -12.3, "humidity_pct": 86.4}),
    "gas.reading": ("gas-1387", {"m3": 0.033, "interval_min": 30, "pressure_kpa": 1.864,
                    "household": "hh-1387", "account": "acc-11387"}),
    "payment.gas": ("gas-billing", {"account": "acc-63306", "household": "hh-2123",
                    "amount_kzt": 15000.0, "balance_kzt": 16498.36, "method": "auto"}),
    "school.attendance": ("school-1-1a", {"school": "school-1", "class_id": "school-1-1A",
                          "grade": 1, "date": "2026-01-15", "enrolled": 29, "present": 27,
                          "absent": 2}),
    "solar.output": ("solar-akimat", {"power_w": 10.0, "energy_wh": 2.0, "capacity_kw": 20.0}),
    "stop.status": ("stop-01", {"temperature_c": 9.8, "heater_on": True, "people_waiting": 0,
                    "door_opens": 1}),
    "streetlight.status": ("light-001", {"state": "on", "dim_pct": 100, "lamps": 25,
                           "lamps_failed": 0, "power_w": 2289.0}),
    "vehicle.position": ("bus-02", {"vehicle_type": "bus", "plate": "545 EPX 03",
                         "trip_id": "r1-1", "route_id": "r1", "bearing": 180.0,
                         "speed_mps": 0.0, "delay_s": 3}),
}  # fmt: skip
GEO = (51.99865, 70.928874)
TS = T0 + timedelta(minutes=7, seconds=31)  # 07:37:31 in Aqkol


def sample(kind, ts=TS, **data):
    source, base = SAMPLES[kind]
    return decode(message(make_event(kind, source, ts, {**base, **data}, geo=GEO))[1])


def shipped(policy_id):
    return Minimizer(PolicyBook(POLICIES_DIR).spec(policy_id), b"test-key")


def policy(text):
    return Minimizer(parse_policy(textwrap.dedent(text), "p.yaml"), b"test-key")


def test_samples_cover_every_kind_of_the_contract():
    assert set(SAMPLES) == set(KINDS)


def test_every_shipped_policy_loads():
    book = PolicyBook(POLICIES_DIR)
    assert book.errors() == []
    assert {"none", "gdpr-minimal", "edge-counts", "eu-ai-act", "dp-heatmaps"} <= {
        p.id for p in book.items
    }


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_none_keeps_every_kind_as_sent(kind):
    ev = sample(kind)
    k = shipped("none").apply(ev)
    assert k is not None
    assert (k.source, k.ts, k.lat, k.lon) == (ev.source, ev.ts, *GEO)
    assert k.data == {n: v for n, v in ev.data.__dict__.items() if v is not None}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_pseudonymize_identifiers_of_every_kind(kind):
    m = policy(
        """
        id: p
        title: P
        transforms:
          - select: {categories: [identifier]}
            action: pseudonymize
        """
    )
    ev = sample(kind)
    k = m.apply(ev)
    cls = KINDS[kind]
    ids = [n for n, c in cls.privacy().items() if c == "identifier" and n in k.data]
    for n in ids:
        assert k.data[n].startswith("ps-") and k.data[n] != getattr(ev.data, n)
    assert (k.source != ev.source) == (cls.SOURCE_PRIVACY == "identifier")
    others = {n: v for n, v in k.data.items() if n not in ids}
    assert others == {n: getattr(ev.data, n) for n in others}
    escrow = {(p, o) for p, o, _f, _per in m.take_escrow()}
    assert {(k.data[n], str(getattr(ev.data, n))) for n in ids} <= escrow


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_drop_a_category_removes_those_fields_only(kind):
    m = policy(
        """
        id: p
        title: P
        transforms:
          - select: {categories: [identifier, sensitive]}
            action: drop
        """
    )
    ev = sample(kind)
    k = m.apply(ev)
    privacy = KINDS[kind].privacy()
    assert not {n for n in k.data if privacy[n] in ("identifier", "sensitive")}
    assert {n for n, c in privacy.items() if c in ("telemetry", "quasi") and n in ev.data.__dict__
            and getattr(ev.data, n) is not None} <= set(k.data)  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_generalize_place_and_time_of_every_kind(kind):
    m = policy(
        """
        id: p
        title: P
        transforms:
          - select: {fields: [geo]}
            action: generalize
            h3_res: 7
          - select: {fields: [ts]}
            action: generalize
            minutes: 15
        """
    )
    k = m.apply(sample(kind))
    assert k.ts == T0  # 07:37:31 -> 07:30
    assert (k.lat, k.lon) == tuple(
        round(v, 6) for v in h3.cell_to_latlng(h3.latlng_to_cell(*GEO, 7))
    )


def test_generalize_numbers_rounds_to_the_step():
    m = policy(
        """
        id: p
        title: P
        transforms:
          - select: {kinds: [gas.reading], fields: [data.m3, data.pressure_kpa]}
            action: generalize
            round: 0.5
        """
    )
    k = m.apply(sample("gas.reading", m3=1.3, pressure_kpa=1.76))
    assert (k.data["m3"], k.data["pressure_kpa"]) == (1.5, 2.0)


def test_pseudonyms_link_within_the_salt_period_only():
    daily = shipped("gdpr-minimal")
    weekly = shipped("dp-heatmaps")
    today = sample("gas.reading")
    later = sample("gas.reading", ts=TS + timedelta(hours=10))
    tomorrow = sample("gas.reading", ts=TS + timedelta(days=1))
    d = [daily.apply(e).data["household"] for e in (today, later, tomorrow)]
    assert d[0] == d[1] != d[2]
    w = [weekly.apply(e).data["household"] for e in (today, tomorrow)]
    assert w[0] == w[1]
    other_key = Minimizer(daily.spec, b"another key").apply(today).data["household"]
    assert other_key != d[0]  # keyed: without the key, a pseudonym cannot be recomputed


def test_gdpr_minimal():
    m = shipped("gdpr-minimal")
    assert m.apply(sample("payment.gas")) is None
    face = m.apply(sample("camera.face_match"))
    assert "name" not in face.data and face.data["enrollment_id"].startswith("ps-")
    assert face.data["watchlist"] == "wanted" and face.ts == T0
    gas = m.apply(sample("gas.reading"))
    assert gas.source.startswith("ps-") and gas.data["household"].startswith("ps-")
    assert h3.latlng_to_cell(gas.lat, gas.lon, 9) == h3.latlng_to_cell(*GEO, 9)
    bus = m.apply(sample("vehicle.position"))
    assert bus.data["plate"].startswith("ps-") and bus.ts == TS  # buses are not people


def test_edge_counts_keeps_no_identity():
    m = shipped("edge-counts")
    assert m.apply(sample("camera.face_match")) is None
    assert m.apply(sample("access.entry")) is None  # a face pass: no biometrics at all
    assert m.apply(sample("access.entry", method="card")).data.get("badge") is None
    gas = m.apply(sample("gas.reading"))
    assert gas.source == "blk-" + h3.latlng_to_cell(*GEO, 8)
    assert "household" not in gas.data and "account" not in gas.data
    assert gas.data["m3"] == 0.033


def test_eu_ai_act_refuses_the_activist_list():
    m = shipped("eu-ai-act")
    assert m.apply(sample("camera.face_match", watchlist="activist")) is None
    for lst in ("wanted", "missing"):
        kept = m.apply(sample("camera.face_match", watchlist=lst))
        assert kept.data["watchlist"] == lst and "name" not in kept.data
    assert m.refused_watchlists() == {"activist"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("id: p\ntitle: P\ntransforms:\n  - select: {kinds: [gas.readings]}\n    action: drop\n",
         4, "unknown event kind 'gas.readings'"),
        ("id: p\ntitle: P\ntransforms:\n  - select: {fields: [data.colour]}\n    action: drop\n",
         4, "no selected kind has a field 'colour'"),
        ("id: p\ntitle: P\ntransforms:\n  - select: {fields: [geo]}\n    action: generalize\n",
         4, "generalize needs h3_res"),
        ("id: p\ntitle: P\ntransforms:\n  - select: {fields: [source]}\n    action: drop\n",
         4, "source cannot be dropped"),
        ("id: p\ntitle: P\nbiometric:\n  mode: sometimes\n", 4, "biometric.mode"),
        ("id: p\ntitle: P\nretention:\n  default_days: -1\n", 4, "retention.default_days"),
        ("id: p\ntitle: P\nrelease:\n  dp: {epsilon: 0}\n", 4, "release.dp"),
        ("id: P!\ntitle: P\n", 1, "id"),
    ],
)  # fmt: skip
def test_a_broken_policy_is_refused_with_file_line_and_reason(text, line, words):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policies/p.yaml")
    assert info.value.line == line, str(info.value)
    assert words in info.value.reason
    assert str(info.value).startswith(f"policies/p.yaml:{line}: ")
