"""Camera analytics, in the shape of ONVIF analytics events where one exists.

No images and no face model: recognition is simulated from published error rates.
"""

from typing import Literal

from services.events.contract import EventData, Privacy, field, register
from services.events.town import Watchlist

T = Privacy.TELEMETRY


@register("camera.face_match", device="cctv")
class FaceMatch(EventData):
    """ONVIF Recognition/Face: a face matched a watch-list enrollment (maybe wrongly)."""

    VALUE_FIELD = "likelihood"

    enrollment_id: str = field(Privacy.IDENTIFIER, "ONVIF EnrollmentID of the matched entry")
    name: str | None = field(Privacy.IDENTIFIER, "Name on the watch-list entry", default=None)
    likelihood: float = field(T, "ONVIF Likelihood, 0-1", ge=0, le=1)
    watchlist: Watchlist = field(
        Privacy.SENSITIVE,
        "Watch list of the entry; 'activist' is a list of misuse, kept to show it",
    )


@register("camera.crowd", device="cctv")
class Crowd(EventData):
    """ONVIF CountAggregation/OccupancyCounter: people counted in the last window."""

    VALUE_FIELD = "count"

    count: int = field(T, "People counted", ge=0, le=100_000)
    window_s: int = field(T, "Counting window, seconds", gt=0, le=86_400)


@register("camera.object", device="cctv")
class ObjectDetection(EventData):
    """ONVIF ObjectDetection: an object class seen (weapon detection added in 2018)."""

    VALUE_FIELD = "likelihood"

    class_type: Literal["weapon", "knife", "abandoned_bag", "fire", "vehicle"] = field(
        T, "ONVIF ClassTypes value"
    )
    likelihood: float = field(T, "Detector confidence, 0-1", ge=0, le=1)
