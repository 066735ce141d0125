"""The event contract: kinds, schemas, topics and privacy categories."""

from services.events.codec import ContractError, decode, event_models, json_schema
from services.events.contract import (
    KINDS,
    MAX_PAYLOAD_BYTES,
    SCHEMA_ID,
    EventBase,
    EventData,
    Privacy,
    event_dict,
)
from services.events.topics import alert_topic, parse_topic, subscription, topic_for

__all__ = [
    "KINDS",
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_ID",
    "ContractError",
    "EventBase",
    "EventData",
    "Privacy",
    "alert_topic",
    "decode",
    "event_dict",
    "event_models",
    "json_schema",
    "parse_topic",
    "subscription",
    "topic_for",
]
