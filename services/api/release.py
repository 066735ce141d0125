"""The release gate as a dependency: what the caller may receive under the active policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from services.api.deps import ConnDep, active_spec
from services.policy.audience import Gate, Withheld, gate_for


def release_gate(request: Request, conn: ConnDep) -> Gate:
    """The release rules for whoever is asking (set by ``authorize``) under the policy."""
    user = getattr(request.state, "user", None)
    return gate_for(user.role if user is not None else None, active_spec(request, conn))


def kinds_or_403(gate: Gate, kind: str | None) -> list[str] | None:
    """The kinds a read may return, or a 403 naming what is withheld and where to look."""
    try:
        return gate.kinds(kind)
    except Withheld as exc:
        raise HTTPException(403, str(exc)) from None


ReleaseDep = Annotated[Gate, Depends(release_gate)]
