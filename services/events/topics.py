"""MQTT topics of the contract: events on ``[prefix]aqkol/v1/<kind>/<source_id>``, alerts on
``[prefix]aqkol/v1/alerts/<rule>``, and the simulator's control topics (commands, their
acknowledgements, its retained state) under ``[prefix]aqkol/control/simulator``."""

from __future__ import annotations

ROOT = "aqkol/v1"
ALERTS = "alerts"
CONTROL_ROOT = "aqkol/control/simulator"  # outside ROOT: the ingest never stores a command


def topic_for(kind: str, source: str, prefix: str = "") -> str:
    """The topic an event of ``kind`` from ``source`` is published on."""
    return f"{prefix}{ROOT}/{kind}/{source}"


def alert_topic(rule: str, prefix: str = "") -> str:
    """Where an alert raised by ``rule`` is announced."""
    return f"{prefix}{ROOT}/{ALERTS}/{rule}"


def subscription(prefix: str = "", share: str | None = None) -> str:
    """The filter the ingest subscribes to (optionally as an MQTT 5 shared subscription)."""
    flt = f"{prefix}{ROOT}/#"
    return f"$share/{share}/{flt}" if share else flt


def parse_topic(topic: str, prefix: str = "") -> tuple[str, str] | None:
    """(kind, source) of an event topic; None if the topic is not one."""
    head = f"{prefix}{ROOT}/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def is_alert_topic(topic: str, prefix: str = "") -> bool:
    """True for the ingest's own alert announcements, which are not events."""
    return topic.startswith(f"{prefix}{ROOT}/{ALERTS}/")


def control_topic(prefix: str = "") -> str:
    """Where the simulator takes commands: outside ``aqkol/v1/``, so the ingest never sees it."""
    return f"{prefix}{CONTROL_ROOT}"


def control_status_topic(prefix: str = "") -> str:
    """Where the simulator acknowledges commands (``{"state": ..., "published": n, ...}``)."""
    return f"{prefix}{CONTROL_ROOT}/status"


def control_state_topic(prefix: str = "") -> str:
    """The simulator's retained state: paused or running, speed, simulated time, run id."""
    return f"{prefix}{CONTROL_ROOT}/state"
