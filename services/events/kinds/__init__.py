"""Event kinds: one module per device family; importing this package registers them all."""

from services.events.kinds import camera, env, gas, vehicle  # noqa: F401  (registration)
