"""Event kinds: one module per device family; importing this package registers them all."""

from services.events.kinds import (  # noqa: F401  (registration)
    access,
    camera,
    env,
    gas,
    payment,
    school,
    solar,
    stop,
    streetlight,
    vehicle,
)
