"""School registers: attendance per class and day (no names, counts only)."""

from services.events.contract import EventData, Privacy, field, register

Q, T = Privacy.QUASI, Privacy.TELEMETRY


@register("school.attendance", device="school-register")
class SchoolAttendance(EventData):
    """The morning register of one class: how many pupils are enrolled, present, absent."""

    VALUE_FIELD = "absent"

    school: str = field(Q, "School (place id)", max_length=64)
    class_id: str = field(Q, "Class, e.g. school-1-7B", max_length=64)
    grade: int = field(Q, "Grade, 1-11", ge=1, le=12)
    date: str = field(Q, "School day (local date, YYYY-MM-DD)", pattern=r"^\d{4}-\d{2}-\d{2}$")
    enrolled: int = field(T, "Pupils on the register", ge=0, le=100)
    present: int = field(T, "Pupils present", ge=0, le=100)
    absent: int = field(T, "Pupils absent (any reason)", ge=0, le=100)
