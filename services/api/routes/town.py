"""The town's public geography (streets, buildings, lake, places) for the offline map."""

from typing import Any

from fastapi import APIRouter

from services.api.schemas.town import Town
from services.events.townmap import town_map

router = APIRouter(tags=["town"])


def _town_json() -> dict[str, Any]:
    return town_map().to_json()  # the map as data: no ground truth, no simulator


@router.get("/town", response_model=Town)
def town() -> dict[str, Any]:
    """Retrieve the map layers of the synthetic town, in metres from the centre."""
    return _town_json()
