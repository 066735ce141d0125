"""Warm bus stops: heated cabins with a door counter."""

from services.events.contract import EventData, Privacy, field, register

T = Privacy.TELEMETRY


@register("stop.status", device="warm-stop")
class StopStatus(EventData):
    """A heated ("warm") bus stop's cabin: temperature, heater, people waiting, door."""

    VALUE_FIELD = "people_waiting"

    temperature_c: float = field(T, "Air temperature inside the cabin, C", ge=-60, le=50)
    heater_on: bool = field(T, "Heater running")
    people_waiting: int = field(T, "People inside the cabin (sensor count)", ge=0, le=200)
    door_opens: int = field(T, "Door openings in the last 5 minutes", ge=0, le=10_000)
