"""Household gas meters (tied to bank accounts in Smart Aqkol)."""

from services.events.contract import EventData, Privacy, field, register


@register("gas.reading", device="gas-meter")
class GasReading(EventData):
    """Consumption of one household meter over one interval (30 minutes in Aqkol)."""

    VALUE_FIELD = "m3"
    SOURCE_PRIVACY = Privacy.IDENTIFIER  # one meter per household

    m3: float = field(Privacy.TELEMETRY, "Gas used in the interval, cubic metres", ge=0, le=100)
    interval_min: int = field(Privacy.TELEMETRY, "Length of the interval, minutes", gt=0, le=1440)
    household: str = field(Privacy.IDENTIFIER, "Household the meter belongs to", max_length=64)
    account: str | None = field(
        Privacy.IDENTIFIER, "Bank account linked for automatic payment", default=None, max_length=64
    )
    pressure_kpa: float | None = field(
        Privacy.TELEMETRY,
        "Gas pressure at the meter inlet, kPa gauge (low-pressure distribution)",
        default=None,
        ge=0,
        le=1000,
    )
