"""Streetlight group controllers."""

from typing import Literal

from services.events.contract import EventData, Privacy, field, register

T = Privacy.TELEMETRY


@register("streetlight.status", device="streetlight")
class StreetlightStatus(EventData):
    """A streetlight group controller: state, dimming, lamps and power."""

    VALUE_FIELD = "power_w"

    state: Literal["on", "off", "fault"] = field(T, "Controller state")
    dim_pct: int = field(T, "Dimming level, percent of full", ge=0, le=100)
    lamps: int = field(T, "Lamps on this controller", ge=0, le=1000)
    lamps_failed: int = field(T, "Lamps reported failed", ge=0, le=1000)
    power_w: float = field(T, "Electrical power drawn, W", ge=0, le=1_000_000)
