"""MQTT subscriber -> validation -> dead letters -> rules -> batched idempotent writes."""

from services.ingest.worker import Ingest, IngestStats

__all__ = ["Ingest", "IngestStats"]
