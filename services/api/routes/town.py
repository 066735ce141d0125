"""The town's public geography (streets, buildings, lake, places) for the offline map."""

from functools import lru_cache
from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["town"])


@lru_cache
def _town_json() -> dict[str, Any]:
    from simulator.geography import build_town  # map only: no ground truth

    return build_town().to_json()


@router.get("/town")
def town() -> dict[str, Any]:
    """Retrieve the map layers of the synthetic town, in metres from the centre."""
    return _town_json()
