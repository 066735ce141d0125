"""Buses and service vehicles with GPS (GTFS-realtime-like fields)."""

from typing import Literal

from services.events.contract import EventData, Privacy, field, register

Q, T = Privacy.QUASI, Privacy.TELEMETRY


@register("vehicle.position", device="vehicle-gps")
class VehiclePosition(EventData):
    """A vehicle's position report: every ~15 s for buses, 30-60 s for service vehicles."""

    VALUE_FIELD = "speed_mps"

    vehicle_type: Literal["bus", "garbage_truck", "snow_plough", "ambulance", "police"] = field(
        T, "What kind of vehicle"
    )
    plate: str | None = field(Privacy.IDENTIFIER, "Licence plate", default=None, max_length=16)
    trip_id: str | None = field(Q, "GTFS trip", default=None, max_length=64)
    route_id: str | None = field(Q, "GTFS route", default=None, max_length=64)
    bearing: float = field(T, "Degrees clockwise from north", ge=0, lt=360)
    speed_mps: float = field(T, "Speed, metres per second", ge=0, le=60)
    stop_id: str | None = field(Q, "Current or next stop", default=None, max_length=64)
    current_stop_sequence: int | None = field(
        Q, "Sequence of that stop on the trip", default=None, ge=0
    )
    current_status: Literal["INCOMING_AT", "STOPPED_AT", "IN_TRANSIT_TO"] | None = field(
        T, "GTFS-rt VehicleStopStatus", default=None
    )
    occupancy_status: (
        Literal[
            "EMPTY",
            "MANY_SEATS_AVAILABLE",
            "FEW_SEATS_AVAILABLE",
            "STANDING_ROOM_ONLY",
            "CRUSHED_STANDING_ROOM_ONLY",
            "FULL",
        ]
        | None
    ) = field(T, "GTFS-rt OccupancyStatus", default=None)
    delay_s: int | None = field(T, "Seconds behind (+) or ahead (-) of the timetable", default=None)
