"""A tiny lab day (a twentieth of the town, two hours), simulated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.lab.data import DayKey, LabDay, load_day

TINY_KEY = DayKey(seed=3, hours=2, population_scale=0.05)


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab-cache")


@pytest.fixture(scope="session")
def tiny_day(cache: Path) -> LabDay:
    return load_day(TINY_KEY, cache)
