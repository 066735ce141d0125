"""The face-ID turnstile at the command center (in the akimat)."""

from typing import Literal

from services.events.contract import EventData, Privacy, field, register

T = Privacy.TELEMETRY


@register("access.entry", device="turnstile")
class AccessEntry(EventData):
    """One pass (or refusal) at a face-recognition turnstile."""

    VALUE_FIELD = "likelihood"

    badge: str | None = field(
        Privacy.IDENTIFIER, "Employee the face was matched to, if any", default=None, max_length=64
    )
    direction: Literal["in", "out"] = field(T, "Entering or leaving")
    decision: Literal["granted", "denied"] = field(T, "Turnstile decision")
    method: Literal["face", "card"] = field(T, "How the person was identified")
    likelihood: float = field(T, "Face match score, 0-1", ge=0, le=1)
