"""The sensor register: each kind of device, its purpose, data, retention and who answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.api.deps import SettingsDep
from services.api.schemas.register import RegisterOut
from services.events.yamldoc import YamlFileError
from services.transparency.register import load_register, register_json

router = APIRouter(tags=["register"])


@router.get("/register", response_model=RegisterOut)
def register(settings: SettingsDep) -> dict[str, Any]:
    """Retrieve the sensor register, with each device's fields and privacy categories."""
    try:
        reg = load_register(settings.register_file)
    except YamlFileError as exc:
        raise HTTPException(500, f"the sensor register is refused: {exc}") from None
    return register_json(reg)
