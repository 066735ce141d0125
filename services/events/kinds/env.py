"""Environment stations: air, temperature, noise."""

from services.events.contract import EventData, Privacy, field, register

T = Privacy.TELEMETRY


@register("env.reading", device="env-station")
class EnvReading(EventData):
    """A weather and air-quality station's periodic reading."""

    VALUE_FIELD = "temperature_c"

    temperature_c: float = field(T, "Air temperature, degrees Celsius", ge=-60, le=50)
    humidity_pct: float | None = field(T, "Relative humidity, percent", default=None, ge=0, le=100)
    pm25_ugm3: float | None = field(T, "Fine particulate matter, ug/m3", default=None, ge=0)
    noise_dba: float | None = field(T, "Equivalent noise level, dB(A)", default=None, ge=0, le=160)
