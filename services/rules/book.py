"""The rules in force: every ``*.yaml`` of the rules folder, reloaded when a file changes.

A file that fails to load is refused with its :class:`RuleError` and the version of it that
loaded last stays in force (see :class:`services.filebook.FileBook`). The ingest calls
:meth:`RuleBook.refresh` before every batch, so a saved file takes effect within a batch.
"""

from __future__ import annotations

from pathlib import Path

from services.filebook import FileBook, load_file
from services.rules.spec import CompiledRule, RuleError, parse_rule

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def load_rule_file(path: Path) -> CompiledRule:
    return load_file(path, parse_rule, RuleError)


class RuleBook(FileBook[CompiledRule]):
    """The rules of one folder, with the last good version of each file."""

    def __init__(self, folder: Path | str = RULES_DIR):
        super().__init__(folder, parse_rule, lambda r: r.id, RuleError)

    @property
    def rules(self) -> list[CompiledRule]:
        """The rules in force (the last good version of every file), by id."""
        return self.items
