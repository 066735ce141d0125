"""What a policy removed, as the comparison panes show it: ``GET /policy/effect``.

Real broker (the API's wire tap reads the raw messages), real ingest write path (the stored
side), real SQLite. The exploit tests: a student asks for the summary and must not receive a
household id, a meter, a name, a watch-list entry or a pseudonym; an analyst must not receive
a value the policy removed (it receives at most what the policy stores).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from services.api.main import create_app
from services.events import topic_for
from services.ingest import Ingest
from services.store.db import migrate
from tests.accounts import add_accounts, clients_by_role
from tests.conftest import make_settings
from tests.factories import T0, make_event, message
from tests.support import wait_until

NAMES = ("Aigerim Testova", "Bolat Fakeuly")


def _events() -> list[dict]:
    evs = []
    for i in range(6):
        evs.append(make_event("gas.reading", f"gas-{i:04d}", T0 + timedelta(minutes=i),
                              {"m3": 0.4 + i, "interval_min": 30, "household": f"hh-{i:04d}",
                               "account": f"acc-{i:04d}"}))  # fmt: skip
    for i, name in enumerate(NAMES):
        evs.append(make_event("camera.face_match", f"cam-00{i}", T0 + timedelta(minutes=7 + i),
                              {"enrollment_id": f"wl-{i}", "name": name, "likelihood": 0.9,
                               "watchlist": "wanted"}))  # fmt: skip
    evs.append(make_event("payment.gas", "pay-0001", T0 + timedelta(minutes=9),
                          {"account": "acc-9999", "household": "hh-9999", "amount_kzt": 5400.0,
                           "balance_kzt": 100.0, "method": "card"}))  # fmt: skip
    for i in range(3):
        evs.append(make_event("camera.crowd", "cam-007", T0 + timedelta(minutes=i),
                              {"count": 20 + i, "window_s": 60}))  # fmt: skip
    return evs


SECRETS_OF_PEOPLE = (
    [f"hh-{i:04d}" for i in range(6)]
    + [f"acc-{i:04d}" for i in range(6)]
    + [f"gas-{i:04d}" for i in range(6)]
    + ["hh-9999", "acc-9999", "wl-0", "wl-1", *NAMES]
)


@pytest.fixture
def effect(tmp_path: Path, mosquitto_port: int, sqlite_url: str):
    """An API under gdpr-minimal whose store holds the events as its ingest stored them, and
    whose wire tap received them raw from the broker."""
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url,
                             policy="gdpr-minimal", policy_pinned=True)  # fmt: skip
    migrate(sqlite_url)
    evs = _events()
    Ingest(settings).process([message(e, settings.mqtt_prefix) for e in evs])
    app = create_app(settings)
    add_accounts(app.state.engine)
    clients = clients_by_role(app)
    assert clients["analyst"].get("/policy/effect").status_code == 200  # starts the tap
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", mosquitto_port)
    pub.loop_start()
    try:
        wait_until(lambda: app.state.wire_tap.subscribed, 15, "the tap subscribed")
        for e in evs:
            topic = topic_for(e["kind"], e["source"], settings.mqtt_prefix)
            pub.publish(topic, orjson.dumps(e), qos=1)
        wait_until(lambda: app.state.wire_tap.seen >= len(evs), 30, "the tap's sample")
        yield clients, evs
    finally:
        pub.loop_stop()
        pub.disconnect()
        app.state.wire_tap.close()


@pytest.mark.mosquitto
def test_the_summary_counts_what_the_policy_changed_and_shows_one_example(effect) -> None:
    clients, evs = effect
    got = clients["teacher"].get("/policy/effect", params={"window_s": 7200}).json()
    assert got["policy"] == "gdpr-minimal" and got["wire_sampled"] == len(evs)
    assert got["stored"]["gas.reading"] == 6 and "payment.gas" not in got["stored"]
    by = {(c["action"], c["kind"]): c for c in got["changes"]}
    pseudo = by[("pseudonymize", "gas.reading")]
    assert {"source", "data.household", "data.account"} <= set(pseudo["fields"])
    assert pseudo["stored"] == 6 and pseudo["wire"] == 6
    assert by[("drop", "camera.face_match")]["fields"] == ["data.name"]
    assert by[("drop", "camera.face_match")]["stored"] == 2
    assert by[("drop_event", "payment.gas")]["stored"] is None
    assert by[("drop_event", "payment.gas")]["wire"] == 1
    assert by[("generalize", "gas.reading")]["fields"] == ["geo"]
    assert got["totals"]["pseudonymize"] >= 6 and got["totals"]["drop_event"] == 1
    # the example: the newest stored face match, its name dropped and its entry pseudonymized
    ex = got["example"]
    assert ex["kind"] == "camera.face_match" and ex["stored"] and ex["outcome"] == "changed"
    fields = {f["name"]: f for f in ex["fields"]}
    assert fields["data.name"]["change"] == "dropped" and fields["data.name"]["after"] is None
    assert fields["data.enrollment_id"]["change"] == "pseudonymized"
    assert fields["data.enrollment_id"]["after"].startswith("ps-")
    assert fields["data.enrollment_id"]["before"] == "(withheld)"  # the policy does not keep it
    assert fields["data.likelihood"]["change"] == "kept"
    assert fields["data.likelihood"]["before"] == fields["data.likelihood"]["after"] == 0.9
    assert fields["geo"]["change"] == "generalized" and fields["ts"]["change"] == "generalized"
    # every read is audited like other reads of personal data
    audit = clients["auditor"].get("/audit", params={"limit": 1000}).json()
    assert any("/policy/effect" in str(a) for a in audit["items"])


@pytest.mark.mosquitto
def test_a_student_receives_no_identity_and_no_pseudonym(effect) -> None:
    """Exploit: a student reads the before/after example and the counts of a window holding
    households, meters, payments and named face matches."""
    clients, _evs = effect
    student = clients["student"].get("/policy/effect", params={"window_s": 7200})
    assert student.status_code == 200
    body = student.text
    leaked = [s for s in SECRETS_OF_PEOPLE if s in body]
    assert not leaked, leaked
    assert "ps-" not in body  # no pseudonym either: the public receives aggregates
    got = student.json()
    fields = {f["name"]: f for f in got["example"]["fields"]}
    # what was done to each field is there, the values are not
    assert fields["data.enrollment_id"]["change"] == "pseudonymized"
    assert fields["data.enrollment_id"]["withheld"]
    assert fields["data.enrollment_id"]["after"] == "(withheld)"
    assert fields["data.name"]["change"] == "dropped"
    assert fields["geo"]["before"] == "(withheld)" and fields["data.likelihood"]["after"] == 0.9
    # the analyst: what the policy stores (pseudonyms), never what it removed
    analyst = clients["analyst"].get("/policy/effect", params={"window_s": 7200}).text
    leaked = [s for s in SECRETS_OF_PEOPLE if s in analyst]
    assert not leaked, leaked
    assert "ps-" in analyst


@pytest.mark.mosquitto
def test_under_none_nothing_is_changed(tmp_path: Path, mosquitto_port: int, sqlite_url: str):
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url,
                             policy="none", policy_pinned=True)  # fmt: skip
    migrate(sqlite_url)
    Ingest(settings).process([message(e, settings.mqtt_prefix) for e in _events()])
    app = create_app(settings)
    add_accounts(app.state.engine, ("student",))
    got = clients_by_role(app, ("student",))["student"].get("/policy/effect").json()
    assert got["policy"] == "none" and got["changes"] == [] and got["example"] is None
    assert got["stored"]["gas.reading"] == 6 and got["wire_sampled"] == 0


def test_a_field_sent_empty_is_not_shown_as_dropped() -> None:
    """A face entry at a turnstile carries no badge: the example must not say the policy
    dropped one."""
    from services.api.routes.effect import example_of
    from services.classroom.wire import describe
    from services.policy.active import POLICIES_DIR, PolicyBook
    from services.policy.apply import Minimizer
    from services.policy.audience import gate_for

    spec = PolicyBook(POLICIES_DIR).spec("gdpr-minimal")
    ev = make_event("access.entry", "turnstile-akimat", T0,
                    {"badge": None, "direction": "in", "decision": "denied", "method": "face",
                     "likelihood": 0.6})  # fmt: skip
    topic, payload = message(ev)
    ex = example_of(Minimizer(spec), gate_for("analyst", spec), describe(topic, payload), ev, None)
    names = {f.name: f for f in ex.fields}
    assert "data.badge" not in names
    assert names["data.method"].change == "kept" and names["geo"].change == "generalized"
