"""Alert rules are data: one YAML file per rule in ``rules/``, validated here with line numbers.

A rule names the event kinds it looks at and a condition in CEL (``when``), and optionally:

- ``where``: a geofence, a named place of the town (with ``radius_m``) or a polygon of
  ``[lat, lon]`` points;
- ``window``: a sliding aggregation (count, sum, avg, min, max, distinct of ``of``) over the
  last ``minutes``, grouped ``by`` the source, an H3 cell, the whole town or an expression,
  with the alert condition ``alert_when`` on its ``value`` (and, with ``neighbours: true``,
  the mean ``neighbours`` value of the other groups in the same H3 cell);
- ``silent_for_minutes``: alert when a source that used to report goes quiet (offline),
  judged ``allowed_lateness_minutes`` behind the newest event of the rule's kinds (events
  arrive out of order);
- ``for_minutes`` or ``in_a_row``: the condition must hold that long or that many times;
- ``dedup_key`` (CEL, default ``source``): one open alert per rule and key;
- ``clear_after_minutes``: the alert clears itself after that long without a repeat;
- ``needs``: the contract fields the rule relies on (the ones its expressions read are
  added), so that a data-minimization policy that removes one blinds the rule openly;
- ``context``: kinds whose latest reading the expressions may read as ``latest["kind"]``;
- ``detects``: the scenario incident types the rule is meant to find (``rules test`` scores
  its alerts against them);
- ``translations``: the ``title`` and ``description`` in the dashboard's other languages,
  ``ru`` (Russian) and ``kk`` (Kazakh); a language not in :data:`RULE_LANGUAGES` is refused
  at the line of its key.

Everything is checked at load: unknown kinds, unknown fields of those kinds, expressions
that do not compile or are too big. :class:`RuleError` names the file and line.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.events.contract import KINDS
from services.events.town import INCIDENT_TYPES
from services.events.townmap import town_map
from services.events.yamldoc import YamlFileError, compose, describe, node_at
from services.rules.expr import Expression, ExpressionError, compile_expression, latest_gate

Severity = Literal["critical", "major", "minor", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")
Purpose = Literal[
    "public_safety", "utilities", "transport", "infrastructure", "health", "welfare", "other"
]


def incident_types() -> list[str]:
    """The scenario incident types (``type`` of each incident model)."""
    return list(INCIDENT_TYPES)


class RuleError(YamlFileError):
    """A rule file that is refused: ``file:line: reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RULE_LANGUAGES: tuple[str, ...] = ("ru", "kk")  # the dashboard's languages besides English
RuleLanguage = Literal["ru", "kk"]


class RuleText(_Strict):
    """A rule's title and description in one more language (see ``translations``)."""

    title: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = None


class Geofence(_Strict):
    place: str | None = Field(None, description="a place id of the town (see GET /town)")
    radius_m: float = Field(150.0, gt=0, le=5000)
    polygon: list[tuple[float, float]] | None = Field(
        None, min_length=3, max_length=500, description="[lat, lon] corners"
    )

    @model_validator(mode="after")
    def _one(self) -> Geofence:
        if (self.place is None) == (self.polygon is None):
            raise ValueError("a geofence is either a place or a polygon")
        if self.place is not None:
            ids = set(town_map().places)
            if self.place not in ids:
                raise ValueError(f"unknown place {self.place!r} (known: {', '.join(sorted(ids))})")
        return self


class Window(_Strict):
    minutes: float = Field(gt=0, le=7 * 24 * 60)
    aggregate: Literal["count", "sum", "avg", "min", "max", "distinct"] = "count"
    of: str | None = Field(None, description="CEL: the value aggregated (not for count)")
    by: str = Field("source", description="source, cell, town, or a CEL expression")
    cell_res: int = Field(8, ge=5, le=12, description="H3 resolution for by: cell / neighbours")
    alert_when: str = Field(description="CEL over value (and neighbours, latest)")
    neighbours: bool = False

    @model_validator(mode="after")
    def _of(self) -> Window:
        if self.aggregate != "count" and self.of is None:
            raise ValueError(f"aggregate {self.aggregate} needs 'of' (what to aggregate)")
        if self.neighbours and self.by in ("cell", "town"):
            raise ValueError("neighbours compares groups within a cell: group by source or a key")
        return self


class RuleSpec(_Strict):
    """One alert rule, as written in its YAML file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    severity: Severity
    purpose: Purpose
    misuse: bool = Field(False, description="shown as a demonstration of misuse")
    enabled: bool = True
    kinds: list[str] = Field(min_length=1)
    when: str = "true"
    value: str | None = Field(None, description="CEL: the alert's value (default: the kind's)")
    dedup_key: str = "source"
    where: Geofence | None = None
    window: Window | None = None
    silent_for_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)
    allowed_lateness_minutes: float = Field(
        0, ge=0, le=24 * 60, description="silence is judged this long after the newest event"
    )
    for_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)
    in_a_row: int | None = Field(None, ge=2, le=1000)
    clear_after_minutes: float | None = Field(None, gt=0, le=30 * 24 * 60)
    needs: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list, max_length=5)
    detects: list[str] = Field(
        default_factory=list, description="scenario incident types it is meant to find"
    )
    translations: dict[RuleLanguage, RuleText] = Field(
        default_factory=dict, description="title and description in ru and kk"
    )

    def text(self, lang: str) -> dict[str, str]:
        """The title and description in ``lang`` (English, the file's own, where missing)."""
        found = self.translations.get(lang)  # type: ignore[call-overload]
        return {
            "title": (found and found.title) or self.title,
            "description": (found and found.description) or self.description,
        }

    @field_validator("detects")
    @classmethod
    def _known_incidents(cls, v: list[str]) -> list[str]:
        known = incident_types()
        for t in v:
            if t not in known:
                raise ValueError(f"unknown incident type {t!r} (known: {', '.join(known)})")
        return v

    @field_validator("kinds", "context")
    @classmethod
    def _known_kinds(cls, v: list[str]) -> list[str]:
        for k in v:
            if k not in KINDS:
                raise ValueError(f"unknown event kind {k!r} (known: {', '.join(sorted(KINDS))})")
        return v

    @model_validator(mode="after")
    def _combinations(self) -> RuleSpec:
        if self.for_minutes is not None and self.in_a_row is not None:
            raise ValueError("use for_minutes or in_a_row, not both")
        if self.silent_for_minutes is not None and self.window is not None:
            raise ValueError("use silent_for_minutes or window, not both")
        for f in self.needs:
            self.check_field(f)
        return self

    def check_field(self, name: str) -> None:
        """Refuse ``data.<x>`` that some kind of the rule does not have."""
        if name == "geo" or name in ("kind", "source", "ts"):
            return
        head, _, rest = name.partition(".")
        if head != "data" or not rest:
            raise ValueError(f"{name!r} is not a contract field (data.<name>, geo, source, ts)")
        for k in self.kinds:
            fields = KINDS[k].model_fields
            if rest not in fields:
                raise ValueError(f"{k} has no field {rest!r} (it has: {', '.join(fields)})")


# --- compiling ---------------------------------------------------------------------------

# expression slots: (path in the file, variables it may use)
_BASE = ("kind", "source", "ts", "data", "geo", "cell", "latest")
_SLOTS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("when",): _BASE,
    ("value",): _BASE,
    ("dedup_key",): _BASE,
    ("window", "of"): _BASE,
    ("window", "by"): _BASE,
    ("window", "alert_when"): ("value", "neighbours", "latest", "source", "cell"),
}
GROUP_WORDS = ("source", "cell", "town")


class CompiledRule:
    """A rule with its expressions compiled and the fields it needs worked out."""

    def __init__(self, spec: RuleSpec, file: str, exprs: dict[tuple[str, ...], Expression]):
        self.spec, self.file = spec, file
        self.id = spec.id
        self.when = exprs.get(("when",))
        self.value = exprs.get(("value",))
        self.key = exprs.get(("dedup_key",))
        self.of = exprs.get(("window", "of"))
        self.by = exprs.get(("window", "by"))
        self.alert_when = exprs.get(("window", "alert_when"))
        # its terms that read only `latest` (false while they are: see latest_gate)
        self.alert_gate = latest_gate(self.alert_when) if self.alert_when else None
        needs = set(spec.needs)
        for e in exprs.values():
            needs |= e.fields
        if spec.where is not None:
            needs.add("geo")
        self.needs = sorted(needs)
        # fields whose values the rule compares or computes with (not just groups by): a
        # pseudonym keeps grouping and deduplication working, not comparisons
        self.compares = sorted(
            {
                f
                for path in (("when",), ("value",), ("window", "of"), ("window", "alert_when"))
                if path in exprs and exprs[path].shortcut is None
                for f in exprs[path].fields
            }
        )
        # the expressions evaluated on each event (alert_when sees the window's value)
        self.event_exprs = [e for p, e in exprs.items() if p != ("window", "alert_when")]

    def __repr__(self) -> str:
        return f"CompiledRule({self.id!r}, {self.file!r})"


def _line_of(root: Any, path: tuple[str, ...], inner_line: int | None) -> int:
    node = node_at(root, path)
    line = node.start_mark.line + 1
    if inner_line is not None:
        text = getattr(node, "value", "")
        if isinstance(text, str):  # an error at the end points at the last line written
            inner_line = max(1, min(inner_line, len(text.rstrip().splitlines())))
        style = getattr(node, "style", None)
        line += inner_line - 1 + (1 if style in ("|", ">") else 0)
    return line


def _check_languages(root: Any, file: str) -> None:
    """Refuse a translation into a language the dashboard does not speak, at its key's line."""
    block = node_at(root, ("translations",))
    if block is root or not isinstance(block, yaml.MappingNode):
        return  # not a mapping: the model refuses it, at its line
    for key, _value in block.value:
        lang = getattr(key, "value", None)
        if lang not in RULE_LANGUAGES:
            raise RuleError(
                file,
                key.start_mark.line + 1,
                f"translations.{lang}: unknown language {lang!r} "
                f"(known: {', '.join(RULE_LANGUAGES)})",
            )


def parse_rule(text: str, file: str = "<rule>") -> CompiledRule:
    """Validate and compile one rule file; raise :class:`RuleError` naming file and line."""
    try:
        root, data = compose(text, file)
    except YamlFileError as exc:
        raise RuleError(exc.file, exc.line, exc.reason) from None
    if not isinstance(data, dict):
        raise RuleError(file, root.start_mark.line + 1, "a rule is a mapping of fields")
    _check_languages(root, file)
    from pydantic import ValidationError

    try:
        spec = RuleSpec.model_validate(data)
    except ValidationError as exc:
        line, reason = describe(exc, root)
        raise RuleError(file, line, reason) from None
    exprs: dict[tuple[str, ...], Expression] = {}
    for path, allowed in _SLOTS.items():
        obj: Any = spec
        for p in path:
            obj = getattr(obj, p, None) if obj is not None else None
        if obj is None or (path == ("window", "by") and obj in GROUP_WORDS):
            continue
        try:
            expr = compile_expression(obj, allowed)
            for f in expr.fields:
                spec.check_field(f)
        except ExpressionError as exc:
            line = _line_of(root, path, exc.line)
            col = f" (column {exc.column})" if exc.column else ""
            raise RuleError(file, line, f"{'.'.join(path)}: {exc.reason}{col}") from None
        except ValueError as exc:
            raise RuleError(file, _line_of(root, path, None), f"{'.'.join(path)}: {exc}") from None
        exprs[path] = expr
    return CompiledRule(spec, file, exprs)
