"""The sensor register: each kind of device, why it is there, what it collects, for how long,
and who answers for it (in the spirit of DTPR signage). Data in ``register.yaml``.

What a device sends is not written in the YAML: each kind of the event contract names its
device (``@register(kind, device=...)``), and the kinds' fields and privacy categories come
from the contract too, so the register cannot drift from what devices really send. A
register that misses the device of a kind, or describes a device that sends nothing, is
refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    purpose: str
    purpose_text: str
    retention: str
    accountable: Accountable
    access: str = Field(description="who can see the data")
    storage: str
    notes: str | None = None

    @property
    def kinds(self) -> list[str]:
        """The kinds this device sends: those of the contract that name it."""
        return [k for k, model in KINDS.items() if self.id == model.DEVICE]


class Register(BaseModel):
    """The whole register."""

    model_config = ConfigDict(extra="forbid")

    title: str
    operator: str
    devices: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_kind_once(self) -> Register:
        ids = [d.id for d in self.devices]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"device {twice[0]!r} is described twice")
        for d in self.devices:
            if not d.kinds:
                raise ValueError(f"no kind of the contract is sent by device {d.id!r}")
        missing = sorted(k for k, model in KINDS.items() if model.DEVICE not in ids)
        if missing:
            devices = sorted({KINDS[k].DEVICE for k in missing})
            raise ValueError(
                f"no device sends {', '.join(missing)}: describe {', '.join(devices)} "
                "in the register"
            )
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
        out = {**d.model_dump(), "kinds": d.kinds}
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
