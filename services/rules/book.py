"""The rules in force: every ``*.yaml`` of the rules folder, reloaded when a file changes.

A file that fails to load is refused with its :class:`RuleError` and the version of it that
loaded last stays in force (if there was one): saving a half-written rule never switches an
alert off. Two files with the same rule id are refused too (the later file by name).

:meth:`RuleBook.refresh` is cheap (one ``stat`` per file) and is called by the ingest
before every batch, so a saved file takes effect within a batch, without a restart.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.rules.spec import CompiledRule, RuleError, parse_rule

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@dataclass
class _Entry:
    path: Path
    stamp: tuple[int, int] | None
    rule: CompiledRule | None  # the version in force (last good)
    error: RuleError | None  # why the current file is refused


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def load_rule_file(path: Path) -> CompiledRule:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(str(path), None, f"cannot read the file: {exc}") from None
    return parse_rule(text, str(path))


class RuleBook:
    """The rules of one folder, with the last good version of each file."""

    def __init__(self, folder: Path | str = RULES_DIR):
        self.folder = Path(folder)
        self.entries: dict[Path, _Entry] = {}
        self.generation = 0  # bumped whenever the rules in force change
        self.refresh()

    def refresh(self) -> bool:
        """Reload changed, new and removed files; True if the rules in force changed."""
        changed = False
        paths = sorted(self.folder.glob("*.yaml")) if self.folder.is_dir() else []
        for gone in set(self.entries) - set(paths):
            del self.entries[gone]
            changed = True
        for path in paths:
            stamp = _stamp(path)
            entry = self.entries.get(path)
            if entry is not None and entry.stamp == stamp:
                continue
            if entry is None:
                entry = self.entries[path] = _Entry(path, stamp, None, None)
            entry.stamp = stamp
            try:
                rule = load_rule_file(path)
            except RuleError as exc:
                entry.error = exc
                continue
            entry.rule, entry.error = rule, None
            changed = True
        changed |= self._check_ids()
        if changed:
            self.generation += 1
        return changed

    def _check_ids(self) -> bool:
        seen: dict[str, Path] = {}
        for path, entry in sorted(self.entries.items()):
            if entry.rule is None:
                continue
            other = seen.get(entry.rule.id)
            if other is not None:
                entry.error = RuleError(
                    str(path), 1, f"id {entry.rule.id!r} is already used by {other.name}"
                )
                entry.rule = None
                return True
            seen[entry.rule.id] = path
        return False

    @property
    def rules(self) -> list[CompiledRule]:
        """The rules in force (the last good version of every file), by id."""
        return sorted((e.rule for e in self.entries.values() if e.rule), key=lambda r: r.id)

    def errors(self) -> list[RuleError]:
        return [e.error for e in self.entries.values() if e.error is not None]

    def get(self, rule_id: str) -> tuple[Path, CompiledRule | None, RuleError | None] | None:
        for e in self.entries.values():
            if (e.rule and e.rule.id == rule_id) or (e.rule is None and e.path.stem == rule_id):
                return e.path, e.rule, e.error
        return None

    def files(self) -> list[dict[str, Any]]:
        """Every file: its rule in force (if any) and why the file itself is refused (if)."""
        return [
            {"path": e.path, "rule": e.rule, "error": e.error}
            for e in sorted(self.entries.values(), key=lambda e: e.path.name)
        ]

    def save(self, rule_id: str, text: str) -> CompiledRule:
        """Validate ``text`` and write it as the rule's file (atomically); raise RuleError.

        A new rule goes to ``<id>.yaml``; an existing one replaces its file. The id in the
        text must be ``rule_id``.
        """
        found = self.get(rule_id)
        path = found[0] if found else self.folder / f"{rule_id}.yaml"
        rule = parse_rule(text, str(path))
        if rule.id != rule_id:
            raise RuleError(str(path), 1, f"the id in the text is {rule.id!r}, not {rule_id!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{rule_id}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        self.refresh()
        return rule
