"""The sensor register: each kind of device, why it is there, what it collects, for how long,
and who answers for it (in the spirit of DTPR signage). Data in ``register.yaml``.

The fields a device collects and their privacy categories are not written in the YAML: they
come from the event contract, so the register cannot drift from what devices really send.
A register that misses a kind of the contract, or names one that does not exist, is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.events import KINDS
from services.events.yamldoc import YamlFileError, parse_model

REGISTER_FILE = Path(__file__).with_name("register.yaml")


class Accountable(BaseModel):
    """Who answers for a device and how to reach them."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=3)
    contact: str = Field(min_length=3)


class Device(BaseModel):
    """One kind of device in town."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    technology: str
    count: str | int = Field(description="how many, roughly, as signage would say")
    sources: list[str] = Field(min_length=1, description="source ids or their prefix, e.g. cam-")
    kinds: list[str] = Field(min_length=1)
    purpose: str
    purpose_text: str
    retention: str
    accountable: Accountable
    access: str = Field(description="who can see the data")
    storage: str
    notes: str | None = None

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; known: {', '.join(sorted(KINDS))}")
        return kinds


class Register(BaseModel):
    """The whole register."""

    model_config = ConfigDict(extra="forbid")

    title: str
    operator: str
    devices: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_kind_once(self) -> Register:
        seen: dict[str, str] = {}
        for d in self.devices:
            for k in d.kinds:
                if k in seen:
                    raise ValueError(f"kind {k!r} is listed by both {seen[k]!r} and {d.id!r}")
                seen[k] = d.id
        missing = sorted(set(KINDS) - set(seen))
        if missing:
            raise ValueError(f"no device sends {', '.join(missing)}: add them to the register")
        return self


def load_register(path: Path | None = None) -> Register:
    """Read and validate the register; :class:`YamlFileError` names file and line."""
    path = path or REGISTER_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(str(path), None, f"cannot read: {exc.strerror}") from None
    return parse_model(text, str(path), Register)


def register_json(reg: Register) -> dict[str, Any]:
    """The register with each kind's fields and privacy categories from the contract."""
    devices = []
    for d in reg.devices:
        out = d.model_dump()
        out["data"] = [
            {
                "kind": kind,
                "description": KINDS[kind].DESCRIPTION,
                "source_category": KINDS[kind].SOURCE_PRIVACY.value,
                "fields": [
                    {
                        "name": name,
                        "category": category.value,
                        "description": KINDS[kind].model_fields[name].description or "",
                    }
                    for name, category in KINDS[kind].privacy().items()
                ],
            }
            for kind in d.kinds
        ]
        devices.append(out)
    return {"title": reg.title, "operator": reg.operator, "devices": devices}
