"""Data-minimization policies: which one is active, switch it, its history, the DP budget."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/policy", tags=["policy"])
