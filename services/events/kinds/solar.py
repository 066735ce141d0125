"""Rooftop solar installations on municipal buildings."""

from services.events.contract import EventData, Privacy, field, register

T = Privacy.TELEMETRY


@register("solar.output", device="solar")
class SolarOutput(EventData):
    """A rooftop solar installation's inverter: power now and energy in the interval."""

    VALUE_FIELD = "power_w"

    power_w: float = field(T, "AC power at the end of the interval, W", ge=0, le=10_000_000)
    energy_wh: float = field(T, "Energy fed in the interval, Wh", ge=0, le=10_000_000)
    capacity_kw: float = field(T, "Installed peak capacity, kW", gt=0, le=10_000)
