"""Reset the town: the command center's store of the run is emptied and the town starts over.

``aqkol up`` supervises a reset (:class:`ResetWatch` hears the command): it stops the
simulator and the ingest, empties what they stored of the run (events and their heatmap
rollups, alerts, dead letters, aggregates, rule counters), and starts both again from the
seed, so that the same seed gives the same events again and the rules start with empty
windows. What is about people rather than the run stays: accounts, the audit log
(append-only: the reset is in it), policy history, reveal grants and the pseudonym escrow
they refer to, and the privacy budget spent (the same seed brings back the same people: a
reset must not buy a fresh budget for them).
"""

from __future__ import annotations

import logging
import threading

import orjson
from sqlalchemy import Engine

from services.config import Settings
from services.events.topics import control_state_topic, control_topic
from services.mqtt import plain_client
from services.store.models import (
    aggregate_members,
    alerts,
    dead_letters,
    events,
    heat_rollup,
    rule_status,
)

log = logging.getLogger(__name__)

RUN_TABLES = (
    events,
    heat_rollup,
    alerts,
    dead_letters,
    aggregate_members,
    rule_status,
)


def wipe_run_data(engine: Engine) -> dict[str, int]:
    """Delete what the run stored; rows deleted per table."""
    out: dict[str, int] = {}
    with engine.begin() as conn:
        for table in RUN_TABLES:
            out[table.name] = conn.execute(table.delete()).rowcount or 0
    return out


class ResetWatch:
    """Listens on the simulator's control topic for ``reset`` (the supervisor's part of it)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.requested = threading.Event()
        self.client = plain_client(settings)
        self.client.on_connect = lambda c, *a: c.subscribe(control_topic(settings.mqtt_prefix), 1)
        self.client.on_message = self._on_message

    def _on_message(self, client, userdata, msg) -> None:
        try:
            if orjson.loads(msg.payload).get("command") == "reset":
                self.requested.set()
        except (orjson.JSONDecodeError, AttributeError):
            pass

    def start(self) -> None:
        """Connect and listen in the background."""
        target = self.settings.mqtt
        self.client.connect(target.host, target.port, keepalive=30)
        self.client.loop_start()

    def announce(self, state: dict) -> None:
        """Publish the town's state while the simulator is being restarted.

        The retained state is cleared, not replaced: amqtt handed a retained message on this
        topic to the restarted ingest (subscribed to ``aqkol/v1/#`` only, where it became a
        dead letter) and to the simulator's command topic. The new simulator publishes its
        own retained state as soon as it runs; until then, this one reaches those listening.
        """
        topic = control_state_topic(self.settings.mqtt_prefix)
        self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        self.client.publish(topic, orjson.dumps(state), qos=1).wait_for_publish(5)

    def stop(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()
