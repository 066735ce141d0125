"""Aqkol sandbox services: event contract, store, ingest, rules, API."""
