"""Simulator -> real broker -> ingest -> real database: every published event stored once."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from services.events.town import AQKOL_TZ
from services.ingest import Ingest
from services.store.models import alerts, dead_letters, events
from simulator.publisher import run as simulate
from tests.conftest import make_settings
from tests.support import published_ids, stored_count, stored_ids, wait_until

START = datetime(2026, 1, 15, 7, 40, tzinfo=AQKOL_TZ)


@pytest.mark.parametrize(
    ("broker", "database"),
    [("amqtt", "sqlite"), ("mosquitto", "postgres")],
    ids=["amqtt+sqlite", "mosquitto+postgresql"],
)
def test_every_published_event_is_stored_exactly_once(broker, database, tmp_path, request):
    port = request.getfixturevalue(f"{broker}_port")
    url = request.getfixturevalue(f"{database}_url")
    settings = make_settings(tmp_path, port=port, database_url=url)
    ingest = Ingest(settings)
    ingest.start()
    try:
        wait_until(ingest.ready.is_set, 30, "the ingest subscription")
        simulate(settings, seed=11, hours=0.5, speed=None, start=START, run_id="e2e")
        published = published_ids(settings.runs_dir, "e2e")
        assert len(published) > 4000 and len(set(published)) == len(published)

        wait_until(
            lambda: stored_count(ingest.engine) >= len(published),
            120,
            f"{len(published)} stored events",
        )
        ids = stored_ids(ingest.engine)
        with ingest.engine.connect() as c:
            kinds = dict(
                c.execute(select(events.c.kind, func.count()).group_by(events.c.kind)).all()
            )
            n_dead = c.execute(select(func.count()).select_from(dead_letters)).scalar_one()
            crowd_alerts = c.execute(select(alerts).where(alerts.c.rule == "large-group")).all()
        assert sorted(ids) == sorted(published)  # none lost, none twice, nothing invented
        assert n_dead == 0
        assert {"gas.reading", "vehicle.position", "camera.crowd", "env.reading"} <= set(kinds)
        assert crowd_alerts, "the school-gate crowds of 07:45-08:00 raise the starter alert"
    finally:
        ingest.stop()


def test_events_published_while_the_ingest_is_down_are_stored_when_it_returns(
    tmp_path, mosquitto_port, sqlite_url
):
    """The persistent session: the broker keeps QoS 1 events for the ingest while it is away."""
    settings = make_settings(tmp_path, port=mosquitto_port, database_url=sqlite_url)
    first = Ingest(settings)
    first.start()
    wait_until(first.ready.is_set, 30, "the ingest subscription")
    simulate(settings, seed=5, hours=0.1, speed=None, start=START, run_id="before")
    before = published_ids(settings.runs_dir, "before")
    wait_until(lambda: first.stats.stored == len(before), 60, "the first stretch stored")
    first.stop()

    simulate(settings, seed=6, hours=0.1, speed=None, start=START, run_id="during")
    during = published_ids(settings.runs_dir, "during")

    second = Ingest(settings)
    second.start()
    try:
        wait_until(lambda: second.stats.stored >= len(during), 60, "the backlog stored")
        assert sorted(stored_ids(second.engine)) == sorted(before + during)
    finally:
        second.stop()
