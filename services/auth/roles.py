"""The role matrix: every API endpoint and the roles allowed to call it, in one place.

An endpoint without an entry is refused to everyone (403) and fails
``tests/services/test_roles.py``, so a new endpoint cannot be forgotten here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    """The four roles of the command center."""

    TEACHER = "teacher"  # admin: everything, including switching policies
    ANALYST = "analyst"  # the operator: rules, alerts, dead letters, identity reveals
    AUDITOR = "auditor"  # oversight: reads the audit log and the grants, changes nothing
    STUDENT = "student"  # reads public-safety data, changes nothing


PUBLIC: Final = "public"  # no login needed
ALL: Final = frozenset(Role)
OPERATORS: Final = frozenset({Role.TEACHER, Role.ANALYST})
OVERSIGHT: Final = frozenset({Role.TEACHER, Role.AUDITOR})
TEACHER: Final = frozenset({Role.TEACHER})

Allowed = frozenset[Role] | str

# (method, route path as declared, with its router's prefix) -> who may call it
MATRIX: Final[dict[tuple[str, str], Allowed]] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("GET", "/auth/me"): ALL,
    ("POST", "/auth/logout"): ALL,
    ("POST", "/auth/password"): ALL,
    # public-safety data
    ("GET", "/events"): ALL,
    ("GET", "/events/latest"): ALL,
    ("GET", "/heatmap"): ALL,
    # what the broker carries, raw: values withheld per audience (services/api/routes/wire.py)
    ("GET", "/wire/sample"): ALL,
    ("GET", "/alerts"): ALL,
    ("GET", "/stats"): ALL,
    ("GET", "/town"): ALL,
    ("GET", "/rules"): ALL,
    ("GET", "/rules/{rule_id}"): ALL,
    # trying a rule out changes nothing: students learn to write rules with these
    ("POST", "/rules/validate"): ALL,
    ("POST", "/rules/preview"): ALL,
    # operating the command center
    ("PUT", "/rules/{rule_id}"): OPERATORS,
    ("POST", "/alerts/acknowledge"): OPERATORS,
    ("POST", "/alerts/clear"): OPERATORS,
    ("POST", "/alerts/assign"): OPERATORS,
    ("GET", "/dead-letters"): OPERATORS,
    # data-minimization policies: everyone sees which is in force; only the teacher switches
    ("GET", "/policy"): ALL,
    ("GET", "/policy/history"): ALL,
    ("GET", "/policy/budget"): ALL,
    ("PUT", "/policy/active"): TEACHER,
    # what the policy removed in a window, with an example released per audience
    ("GET", "/policy/effect"): ALL,
    # re-identification: operators ask, with a justification; oversight sees every grant
    ("POST", "/reveal"): OPERATORS,
    ("GET", "/reveal/{grant_id}"): OPERATORS,
    ("GET", "/reveal"): OVERSIGHT,
    # transparency: the register is signage, for everyone; the log is for oversight
    ("GET", "/register"): ALL,
    ("GET", "/audit"): OVERSIGHT,
    ("GET", "/audit/verify"): OVERSIGHT,
    # a resident's request (GDPR Art. 15), answered by an operator or the auditor
    ("GET", "/citizen"): OPERATORS | OVERSIGHT,
    # the classroom: the teacher runs the town; the camera wall and the debrief show the
    # ground truth, so they are the teacher's; a replay is the stored town at an earlier time
    ("GET", "/classroom/status"): TEACHER,
    ("POST", "/classroom/pause"): TEACHER,
    ("POST", "/classroom/resume"): TEACHER,
    ("POST", "/classroom/speed"): TEACHER,
    ("POST", "/classroom/jump"): TEACHER,
    ("GET", "/classroom/scenarios"): TEACHER,
    ("POST", "/classroom/inject"): TEACHER,
    ("POST", "/classroom/reset"): TEACHER,
    ("GET", "/classroom/cameras"): TEACHER,
    ("GET", "/classroom/replay"): ALL,
    ("GET", "/classroom/metrics"): TEACHER,
    ("GET", "/classroom/debrief"): TEACHER,
    # the lab's results: aggregates of the simulated town, for everyone (the Lab page);
    # starting the quick experiment takes the machine's cores: the teacher's
    ("GET", "/lab/runs"): ALL,
    ("GET", "/lab/runs/{run_id}"): ALL,
    ("GET", "/lab/runs/{run_id}/tables/{name}"): ALL,
    ("GET", "/lab/jobs/{experiment}"): ALL,
    ("POST", "/lab/jobs"): TEACHER,
}


def allowed(method: str, path: str) -> Allowed | None:
    """Who may call ``method path`` (HEAD as GET); None when the matrix has no entry."""
    return MATRIX.get(("GET" if method == "HEAD" else method, path))


def may(role: str, method: str, path: str) -> bool:
    """Whether ``role`` may call the endpoint."""
    who = allowed(method, path)
    return who == PUBLIC or (isinstance(who, frozenset) and role in who)
