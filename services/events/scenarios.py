"""Scenario files: a day in Aqkol with incidents at simulated times (``scenarios/*.yaml``).

Part of the contract: the simulator plays them, the teacher's ``inject`` command names one,
the API lists them, the lab and the rules test bench replay them. Places are the town
map's (:mod:`services.events.townmap`).

A scenario is data, never code: the YAML is composed with a safe loader (YAML 1.2-style
numbers, so ``11:00`` stays a time and is not read as the sexagesimal integer 660) and
validated by the pydantic models below. A broken file is refused with a
:class:`ScenarioError` that names the file, the line and the reason.

Incidents (``type``):

- ``cold_snap``: the temperature drops by ``depth_c`` for ``hours`` (ramped over 6 hours);
- ``protest``: a gathering at ``place`` (the square) grows to ``crowd`` people over the
  first two thirds of ``duration_min``; the residents on the "activist" watch list (a list
  of MISUSE, kept to show it) attend from the start if ``activists_attend``;
- ``missing_child``: the resident child on the "missing" watch list leaves home at ``at``
  and walks past the places of ``route``, lingering ``dwell_min`` at each, and is found at
  the last one (the truth records when); cameras on the way may see the child, or not;
- ``gas_leak``: a steady extra flow of ``m3_per_interval`` at one gas household's meter;
- ``market_day``: ``extra_visitors`` more people come to the market during the window.

Times are ``at`` (HH:MM) on simulated ``day`` (0 = the day the run starts).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.events.town import DAY_MS, MINUTE_MS
from services.events.townmap import town_map
from services.events.yamldoc import YamlFileError, compose, describe

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


class ScenarioError(YamlFileError):
    """A scenario file that cannot be used: ``file:line: reason``."""


# --- the models ------------------------------------------------------------------------


class _Incident(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: int = Field(0, ge=0, le=365, description="simulated day, 0 = the start day")
    at: time = Field(description="time of day the incident starts (HH:MM, Aqkol time)")
    note: str = ""

    @property
    def t0(self) -> int:
        """Start in simulated milliseconds."""
        return self.day * DAY_MS + (self.at.hour * 60 + self.at.minute) * MINUTE_MS

    def end(self) -> int:  # overridden where an incident has a duration
        return self.t0


def _place_ids() -> set[str]:
    return set(town_map().places)


def _known_place(v: str) -> str:
    if v not in _place_ids():
        raise ValueError(f"unknown place {v!r} (known: {', '.join(sorted(_place_ids()))})")
    return v


class ColdSnap(_Incident):
    type: Literal["cold_snap"]
    hours: float = Field(gt=0, le=24 * 14)
    depth_c: float = Field(gt=0, le=30, description="degrees colder at the bottom of the snap")

    def end(self) -> int:
        return self.t0 + round(self.hours * 60) * MINUTE_MS


class Protest(_Incident):
    type: Literal["protest"]
    duration_min: int = Field(gt=0, le=24 * 60)
    place: str = "square"
    crowd: int = Field(gt=0, le=5000, description="participants at the peak")
    activists_attend: bool = True

    _place = field_validator("place")(_known_place)

    def end(self) -> int:
        return self.t0 + self.duration_min * MINUTE_MS


class MissingChild(_Incident):
    type: Literal["missing_child"]
    route: list[str] = Field(min_length=1, max_length=12)
    dwell_min: float = Field(10, ge=0, le=600)

    @field_validator("route")
    @classmethod
    def _route(cls, v: list[str]) -> list[str]:
        return [_known_place(p) for p in v]


class GasLeak(_Incident):
    type: Literal["gas_leak"]
    household: str | None = Field(None, pattern=r"^hh-\d{4}$", description="default: seeded")
    m3_per_interval: float = Field(0.6, gt=0, le=20)
    hours: float = Field(24, gt=0, le=24 * 14)

    def end(self) -> int:
        return self.t0 + round(self.hours * 60) * MINUTE_MS


class MarketDay(_Incident):
    type: Literal["market_day"]
    duration_min: int = Field(gt=0, le=24 * 60)
    extra_visitors: int = Field(gt=0, le=10_000)
    place: str = "market"

    _place = field_validator("place")(_known_place)

    def end(self) -> int:
        return self.t0 + self.duration_min * MINUTE_MS


INCIDENT_MODELS = (ColdSnap, Protest, MissingChild, GasLeak, MarketDay)
Incident = Annotated[
    ColdSnap | Protest | MissingChild | GasLeak | MarketDay, Field(discriminator="type")
]


def incident_type_names() -> list[str]:
    """The ``type`` values an incident may have, in the order of the docs."""
    return [get_args(c.model_fields["type"].annotation)[0] for c in INCIDENT_MODELS]


class Scenario(BaseModel):
    """A named day (or days) of the town with its incidents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    start: AwareDatetime | None = Field(None, description="default start of a run")
    hours: float | None = Field(None, gt=0, le=24 * 60, description="default length of a run")
    temperature_offset_c: float = Field(0.0, ge=-30, le=30)
    incidents: list[Incident] = Field(default_factory=list)
    source: str | None = Field(None, exclude=True, description="the file it came from")

    def of_type(self, cls: type) -> list[Any]:
        return [i for i in self.incidents if isinstance(i, cls)]


# --- loading ---------------------------------------------------------------------------


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    """Validate a scenario's YAML text; raise :class:`ScenarioError` naming file and line."""
    try:
        root, data = compose(text, file)
    except YamlFileError as exc:
        raise ScenarioError(exc.file, exc.line, exc.reason) from None
    if not isinstance(data, dict):
        raise ScenarioError(file, root.start_mark.line + 1, "a scenario is a mapping of fields")
    try:
        return Scenario.model_validate({**data, "source": file})
    except ValidationError as exc:
        line, reason = describe(exc, root)
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        types = ", ".join(incident_type_names())
        if err["type"] == "union_tag_not_found":  # an incident without ``type``
            reason = f"{where}: missing 'type' (one of: {types}){more}"
        elif err["type"] == "union_tag_invalid":
            got = err.get("ctx", {}).get("tag")
            reason = f"{where}: Input tag {got!r} is not a known 'type' (one of: {types}){more}"
        raise ScenarioError(file, line, reason) from None


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario name (``protest``) in ``scenarios/``, or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = scenario_path(name_or_path)
    if not path.is_file():
        known = ", ".join(scenario_names())
        raise ScenarioError(str(path), None, f"no such scenario file (known: {known})")
    return parse_scenario(path.read_text(encoding="utf-8"), str(path))


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def incident_records(scenario: Scenario, to_iso: Any) -> list[dict[str, Any]]:
    """The ground-truth record of each incident (details are added by the town)."""
    out = []
    for n, inc in enumerate(scenario.incidents, start=1):
        out.append(
            {
                "id": f"incident-{n}",
                "kind": "incident",
                "scenario": scenario.name,
                "type": inc.type,
                "start": to_iso(inc.t0),
                "end": to_iso(inc.end()),
                "params": inc.model_dump(mode="json", exclude={"type"}),
            }
        )
    return out
