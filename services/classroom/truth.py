"""What really happened, for the teacher only: which face matches and detections were true.

Read from the current run's ``truth.jsonl`` (written by the simulator as it publishes and
flushed every second), incrementally: each call reads only what was appended since the last.
The command center never reads this; only the teacher's endpoints do, and say so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

KEPT_KINDS = ("camera.face_match", "camera.object")
KEPT_FIELDS = ("true_match", "true_object", "sex", "age_group", "resident", "enrolled_resident")


class TruthIndex:
    """Event id -> its ground truth (face matches and object detections), of one run file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.records: dict[str, dict[str, Any]] = {}
        self.incidents: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read what the simulator appended since the last call (a partial line waits)."""
        with self._lock:
            if not self.path.exists():
                return
            if self.path.stat().st_size < self.offset:  # rewritten: a new run in the folder
                self.offset, self.records, self.incidents = 0, {}, []
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            self.offset += end
            for line in chunk[:end].splitlines():
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                kind = rec.get("kind")
                if kind in KEPT_KINDS:
                    self.records[rec["id"]] = {k: rec[k] for k in KEPT_FIELDS if k in rec}
                elif kind == "incident":
                    self.incidents.append(rec)

    def get(self, event_id: str) -> dict[str, Any] | None:
        """The truth of one event, if the run has it."""
        return self.records.get(event_id)

    def face_matches(self) -> tuple[int, int]:
        """(true, false) face matches of the run so far."""
        true = sum(1 for r in self.records.values() if r.get("true_match") is True)
        false = sum(1 for r in self.records.values() if r.get("true_match") is False)
        return true, false


_indexes: dict[Path, TruthIndex] = {}
_lock = threading.Lock()


def index_for(run_dir: Path) -> TruthIndex:
    """The (shared, refreshed) truth index of a run folder."""
    path = Path(run_dir) / "truth.jsonl"
    with _lock:
        idx = _indexes.get(path)
        if idx is None:
            idx = _indexes[path] = TruthIndex(path)
    idx.refresh()
    return idx
