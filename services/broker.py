"""The embedded broker (amqtt) for the zero-setup demo; deployments use Mosquitto.

amqtt keeps persistent sessions only for clients that give a user name, so every client of
the project sends one. It speaks MQTT 3.1.1 only and gives up on an unacknowledged QoS 1
delivery after 5 seconds: fine for a laptop demo, and why the deployment uses Mosquitto.
"""

from __future__ import annotations

import asyncio
import logging

from amqtt.broker import Broker

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict:
    """amqtt configuration: one TCP listener; a user name required, no password checked."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
        },
    }


async def serve(host: str = "127.0.0.1", port: int = 1883) -> None:
    """Run the broker until cancelled."""
    broker = Broker(broker_config(host, port))
    await broker.start()
    log.info("embedded MQTT broker on %s:%d", host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await broker.shutdown()


def run(host: str = "127.0.0.1", port: int = 1883) -> None:
    """Run the embedded broker in the foreground."""
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    asyncio.run(serve(host, port))
