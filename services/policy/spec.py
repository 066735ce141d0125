"""Data-minimization policies are data: one YAML file per policy in ``policies/``.

A policy is a list of transforms applied, in order, to every event between the broker and
the disk, plus how long data is kept, what face recognition may do, and what the API may
release:

```yaml
id: gdpr-minimal
title: GDPR data minimisation
pseudonym_salt: daily                 # daily | weekly | never
transforms:
  - select: {categories: [identifier]}   # and/or kinds: [...], fields: [data.x, geo, ts, source]
    action: pseudonymize                 # drop | pseudonymize | generalize | aggregate
  - select: {fields: [geo]}
    action: generalize
    h3_res: 9
  - select: {fields: [ts]}
    action: generalize
    minutes: 15
retention: {default_days: 30, kinds: {camera.face_match: 1}}
biometric: {mode: realtime, watchlists: [missing, wanted]}   # off | verification | ...
release: {k_min: 5, dp: {epsilon: 0.5, daily_budget: 5}}   # public: aggregates (default)
```

A transform acts on the fields its ``select`` picks: the named ``fields``, plus every field
of the named privacy ``categories`` (the contract gives each field one; ``source`` is an
identifier for a household's own meter, ``geo`` and ``ts`` are quasi-identifiers), within the
named ``kinds`` (default: all). ``drop`` with only ``kinds`` drops those events whole.

A transform marked ``at: edge`` runs on the devices too, before they publish (the simulator's
:mod:`services.policy.edge`), so what it removes never reaches the broker; the ingest still applies
the whole policy. Only ``drop`` (of whole kinds, or of fields the contract lets a device
leave out) and ``generalize`` can run at the edge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.events.contract import KINDS, Privacy
from services.events.town import WATCHLISTS, Watchlist
from services.events.yamldoc import YamlFileError, parse_model

# what a transform does: each is resolved to a step per field when the policy loads
# (services/policy/apply.py, ``Minimizer._step``), a name outside these refused there too
Action = Literal["drop", "pseudonymize", "generalize", "aggregate"]
ENVELOPE = ("source", "geo", "ts")


class PolicyError(YamlFileError):
    """A policy file that is refused: ``file:line: reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Select(_Strict):
    kinds: list[str] = Field(default_factory=list, description="default: every kind")
    fields: list[str] = Field(default_factory=list, description="data.<name>, source, geo, ts")
    categories: list[Privacy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known(self) -> Select:
        for k in self.kinds:
            if k not in KINDS:
                raise ValueError(f"unknown event kind {k!r} (known: {', '.join(sorted(KINDS))})")
        kinds = self.kinds or sorted(KINDS)
        for f in self.fields:
            if f in ENVELOPE:
                continue
            head, _, name = f.partition(".")
            if head != "data" or not name:
                raise ValueError(f"{f!r} is not a field (data.<name>, source, geo or ts)")
            if not any(name in KINDS[k].model_fields for k in kinds):
                raise ValueError(f"no selected kind has a field {name!r}")
        return self


class Transform(_Strict):
    select: Select
    action: Action
    h3_res: int | None = Field(None, ge=0, le=15, description="generalize/aggregate geo")
    minutes: int | None = Field(
        None, ge=1, le=24 * 60, description="generalize ts; aggregate: the interval summed"
    )
    round: float | None = Field(None, gt=0, description="generalize numbers to this step")
    at: Literal["ingest", "edge"] = Field(
        "ingest",
        description="where it runs: the ingest (always), or the devices too, before "
        "publishing (drop and generalize only; see services/policy/edge.py)",
    )
    note: str = ""

    @model_validator(mode="after")
    def _fits(self) -> Transform:
        sel = self.select
        if self.action == "generalize" and not (self.h3_res or self.minutes or self.round):
            raise ValueError("generalize needs h3_res (geo), minutes (ts) or round (numbers)")
        if self.action == "aggregate" and (self.h3_res is None or self.minutes is None):
            raise ValueError(
                "aggregate needs h3_res (the block, an H3 cell) and minutes (the interval)"
            )
        if self.action == "drop" and "source" in sel.fields:
            raise ValueError("source cannot be dropped (every event has one): pseudonymize it")
        if self.action == "drop" and "ts" in sel.fields:
            raise ValueError("ts cannot be dropped: generalize it (minutes)")
        if self.action == "drop" and Privacy.QUASI in sel.categories:
            raise ValueError(
                "ts cannot be dropped, and the quasi category holds it: drop geo and the "
                "data fields by name, generalize ts (minutes)"
            )
        if not (sel.kinds or sel.fields or sel.categories):
            raise ValueError("select something: kinds, fields or categories")
        if self.at == "edge":
            _check_edge(self)
        return self


def _check_edge(t: Transform) -> None:
    """Refuse what a device cannot do on its own: pseudonymize (the key never leaves the
    command center), aggregate (a sum over many devices' events), or leave out a field the
    contract requires (the ingest would refuse every such event)."""
    if t.action == "pseudonymize":
        raise ValueError(
            "at: edge cannot pseudonymize: the pseudonym key never leaves the command center "
            "(drop or generalize at the edge, pseudonymize at the ingest)"
        )
    if t.action == "aggregate":
        raise ValueError(
            "at: edge cannot aggregate: a sum per block and interval needs every device's "
            "events, which only the ingest sees"
        )
    if t.action != "drop":
        return
    sel = t.select
    if not sel.fields and not sel.categories:
        return  # whole kinds: the device sends none of them
    from services.policy.apply import _fields_of  # the same selection as the ingest's

    for kind in sel.kinds or sorted(KINDS):
        for f in _fields_of(kind, t):
            name = f.removeprefix("data.")
            if f == "source" or (f != "geo" and KINDS[kind].model_fields[name].is_required()):
                raise ValueError(
                    f"at: edge cannot drop {f} of {kind}: the contract requires it, so the "
                    "ingest would refuse every such event (drop the kind, or drop it at the "
                    "ingest)"
                )


class Retention(_Strict):
    default_days: float | None = Field(None, gt=0, le=3650, description="None: keep")
    kinds: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Retention:
        for k, days in self.kinds.items():
            if k not in KINDS:
                raise ValueError(f"unknown event kind {k!r}")
            if not 0 < days <= 3650:
                raise ValueError(f"{k}: days must be between 0 and 3650")
        return self

    def days(self, kind: str) -> float | None:
        return self.kinds.get(kind, self.default_days)


class Biometric(_Strict):
    mode: Literal["off", "verification", "retrospective", "realtime"] = "realtime"
    watchlists: list[Watchlist] = Field(
        default_factory=lambda: list(WATCHLISTS),
        description="the watch-list categories real-time identification may match",
    )


class DP(_Strict):
    epsilon: float = Field(gt=0, le=10, description="spent by each released count layer")
    daily_budget: float = Field(gt=0, le=100)
    unit: Literal["event", "person"] = Field(
        "event",
        description="what epsilon protects in one release: one event (noise at sensitivity "
        "1), or one person's whole contribution to the layer (noise scaled to the most one "
        "person adds to it; the privacy lab calibrates each layer it measures so)",
    )


class Release(_Strict):
    k_min: int = Field(1, ge=1, le=1000, description="suppress heatmap cells under k events")
    dp: DP | None = None
    public: Literal["aggregates", "events"] = Field(
        "aggregates",
        description="what students receive: released aggregates and non-personal telemetry "
        "only, or the stored events as operators do (services/policy/audience.py)",
    )


class PolicySpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    pseudonym_salt: Literal["daily", "weekly", "never"] = "daily"
    transforms: list[Transform] = Field(default_factory=list, max_length=100)
    retention: Retention = Field(default_factory=Retention)
    biometric: Biometric = Field(default_factory=Biometric)
    release: Release = Field(default_factory=Release)
    dead_letter_payloads: bool = Field(
        False, description="keep the first 4 KiB of a refused payload (it may hold identifiers)"
    )


def edge_part(spec: PolicySpec) -> PolicySpec | None:
    """The transforms of ``spec`` its devices apply before publishing (None: none): a policy
    of its own, with no biometric limit (the ingest applies that)."""
    edge = [t for t in spec.transforms if t.at == "edge"]
    if not edge:
        return None
    return PolicySpec(id=spec.id, title=spec.title, transforms=edge)


def parse_policy(text: str, file: str = "<policy>") -> PolicySpec:
    """Validate one policy file; raise :class:`PolicyError` naming file and line."""
    return parse_model(text, file, PolicySpec, PolicyError, "a policy")


KEEP_EVERYTHING = PolicySpec(
    id="none",
    title="Keep everything (built in)",
    release=Release(public="events"),
    dead_letter_payloads=True,
)

# What the API releases while the active policy's file is refused (edited into an invalid
# state after it was switched on): the ingest holds the stream (it fails closed), and the
# doors fail closed too. Students get aggregates under a k of 10, no dead-letter payload is
# shown; operators still read what is stored, which a valid policy minimized.
REFUSED_RELEASE = PolicySpec(
    id="refused",
    title="The active policy's file is refused: releases fail closed",
    release=Release(public="aggregates", k_min=10),
    dead_letter_payloads=False,
)
