"""The synthetic town of Aqkol: a seeded model that publishes contract events over MQTT.

- :mod:`simulator.geography` -- the fixed map (streets, buildings, places, cameras, households).
- :mod:`simulator.model` -- :class:`~simulator.model.Town`, the seeded event generator.
- :mod:`simulator.publisher` -- publishing a town's events to the broker, run folders.

Everything here is synthetic: generated names, no photographs, no face model. Recognition is
simulated from published error rates (see ``simulator/faces.py``).
"""

from simulator.geography import TownMap, build_town
from simulator.model import Town

__all__ = ["Town", "TownMap", "build_town"]
