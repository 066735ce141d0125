"""The API's shapes, one module per resource: what a route receives and answers with.

The OpenAPI description at /docs is generated from these, and the dashboard validates the
API's answers against the same classes (``dashboard/api_client.py``), so the two cannot
drift apart. This package imports pydantic, the standard library and the contract only
(the "shapes" layer of ARCHITECTURE.md).
"""

from services.api.schemas.alerts import AlertAction, AlertActionResult, AlertList, AlertOut
from services.api.schemas.audit import AuditEntry, AuditPage, ChainOut
from services.api.schemas.auth import Me, NewPassword, Token
from services.api.schemas.citizen import CitizenView, KindHeld
from services.api.schemas.classroom import Inject, Jump, Speed
from services.api.schemas.common import GeoOut, Refusal, RowId
from services.api.schemas.dead_letters import DeadLetterList, DeadLetterOut
from services.api.schemas.effect import Change, Effect, Example, ExampleField
from services.api.schemas.events import EventOut, EventPage, LatestEvents
from services.api.schemas.health import Health
from services.api.schemas.heatmap import HeatCell, Heatmap
from services.api.schemas.lab import LabJob, LabResult, LabRun, LabRuns, LabStart, LabTable
from services.api.schemas.policy import Budget, HistoryRow, PolicyList, PolicyOut, Switch
from services.api.schemas.register import RegisterOut
from services.api.schemas.reveal import (
    MIN_JUSTIFICATION,
    GrantList,
    GrantOut,
    LegalBasis,
    RevealOut,
    RevealRequest,
)
from services.api.schemas.rules import (
    Preview,
    PreviewAlert,
    RuleList,
    RuleOut,
    RuleProblem,
    Validation,
)
from services.api.schemas.stats import Stats
from services.api.schemas.town import Town
from services.api.schemas.wire import WireField, WireMessage, WireSample

__all__ = [
    "MIN_JUSTIFICATION",
    "AlertAction",
    "AlertActionResult",
    "AlertList",
    "AlertOut",
    "AuditEntry",
    "AuditPage",
    "Budget",
    "ChainOut",
    "Change",
    "CitizenView",
    "DeadLetterList",
    "DeadLetterOut",
    "Effect",
    "EventOut",
    "EventPage",
    "Example",
    "ExampleField",
    "GeoOut",
    "GrantList",
    "GrantOut",
    "Health",
    "HeatCell",
    "Heatmap",
    "HistoryRow",
    "Inject",
    "Jump",
    "KindHeld",
    "LabJob",
    "LabResult",
    "LabRun",
    "LabRuns",
    "LabStart",
    "LabTable",
    "LatestEvents",
    "LegalBasis",
    "Me",
    "NewPassword",
    "PolicyList",
    "PolicyOut",
    "Preview",
    "PreviewAlert",
    "Refusal",
    "RegisterOut",
    "RevealOut",
    "RevealRequest",
    "RowId",
    "RuleList",
    "RuleOut",
    "RuleProblem",
    "Speed",
    "Stats",
    "Switch",
    "Token",
    "Town",
    "Validation",
    "WireField",
    "WireMessage",
    "WireSample",
]
