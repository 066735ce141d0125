"""The town's map as data: streets, buildings, places, stops, routes, cameras, stations.

The command center needs a map (places for geofences, the situation room's map at
``/town``) but not the simulator's code: a real town's devices could plug in with their own
map. The map is a JSON file in metres from the town centre (:mod:`services.events.geo`);
the simulator exports its town's (`aqkol town-map`), and the default town's ships with the
package (``services/events/data/aqkol-map.json``; a test keeps it equal to the simulator's
export). ``AQKOL_TOWN_MAP`` names another file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

DEFAULT_MAP = Path(__file__).resolve().parent / "data" / "aqkol-map.json"
ENV = "AQKOL_TOWN_MAP"


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    kind: str
    x: float
    y: float


class TownMap:
    """A town's map: :attr:`places` by id, and the whole map as JSON (:meth:`to_json`)."""

    def __init__(self, data: dict[str, Any], source: str = "<map>"):
        try:
            self.places = {
                p["id"]: Place(p["id"], p["name"], p["kind"], float(p["x"]), float(p["y"]))
                for p in data["places"]
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: not a town map ({exc!r})") from None
        self._data = data
        self.source = source

    def to_json(self) -> dict[str, Any]:
        """The map as served at ``/town`` and drawn offline by the dashboard."""
        return self._data

    def place(self, place_id: str) -> Place:
        """The place with that id (KeyError naming the known ones)."""
        try:
            return self.places[place_id]
        except KeyError:
            known = ", ".join(sorted(self.places))
            raise KeyError(f"unknown place {place_id!r} (known: {known})") from None


def map_path() -> Path:
    """The map in use: ``AQKOL_TOWN_MAP`` or the default town's."""
    return Path(os.environ.get(ENV) or DEFAULT_MAP)


@lru_cache(maxsize=4)
def _load(path: str) -> TownMap:
    return TownMap(orjson.loads(Path(path).read_bytes()), path)


def town_map(path: Path | str | None = None) -> TownMap:
    """The town map (read once per file)."""
    return _load(str(Path(path) if path is not None else map_path()))
