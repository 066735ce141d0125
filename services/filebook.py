"""A folder of YAML files that users edit (rules, policies), reloaded when a file changes.

A file that fails to load is refused with its error, and the version of it that loaded last
stays in force (if there was one): saving a half-written file never switches anything off.
Two files with the same id are refused too (the later file by name).

:meth:`FileBook.refresh` is cheap (one ``stat`` per file), so services call it often (the
ingest before every batch) and a saved file takes effect without a restart.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from services.events.yamldoc import YamlFileError

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    path: Path
    stamp: tuple[int, int] | None
    item: T | None  # the version in force (last good)
    error: YamlFileError | None  # why the current file is refused


def load_file(
    path: Path, parse: Callable[[str, str], T], error: type[YamlFileError] = YamlFileError
) -> T:
    """Read and parse one file; an unreadable file is refused like an invalid one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), None, f"cannot read the file: {exc}") from None
    return parse(text, str(path))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class FileBook(Generic[T]):
    """The items of one folder, with the last good version of each file."""

    def __init__(
        self,
        folder: Path | str,
        parse: Callable[[str, str], T],
        ident: Callable[[T], str],
        error: type[YamlFileError] = YamlFileError,
    ):
        self.folder = Path(folder)
        self._parse, self._ident, self._error = parse, ident, error
        self.entries: dict[Path, _Entry[T]] = {}
        self.generation = 0  # bumped whenever the items in force change
        self.refresh()

    def load_file(self, path: Path) -> T:
        return load_file(path, self._parse, self._error)

    def refresh(self) -> bool:
        """Reload changed, new and removed files; True if the items in force changed."""
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
                item = self.load_file(path)
            except YamlFileError as exc:
                entry.error = exc
                continue
            entry.item, entry.error = item, None
            changed = True
        changed |= self._check_ids()
        if changed:
            self.generation += 1
        return changed

    def _check_ids(self) -> bool:
        seen: dict[str, Path] = {}
        for path, entry in sorted(self.entries.items()):
            if entry.item is None:
                continue
            ident = self._ident(entry.item)
            other = seen.get(ident)
            if other is not None:
                entry.error = self._error(
                    str(path), 1, f"id {ident!r} is already used by {other.name}"
                )
                entry.item = None
                return True
            seen[ident] = path
        return False

    @property
    def items(self) -> list[T]:
        """The items in force (the last good version of every file), by id."""
        return sorted((e.item for e in self.entries.values() if e.item), key=self._ident)

    def errors(self) -> list[YamlFileError]:
        return [e.error for e in self.entries.values() if e.error is not None]

    def get(self, ident: str) -> tuple[Path, T | None, YamlFileError | None] | None:
        """The file of ``ident``: its path, the item in force and why the file is refused."""
        for e in self.entries.values():
            if (e.item is not None and self._ident(e.item) == ident) or (
                e.item is None and e.path.stem == ident
            ):
                return e.path, e.item, e.error
        return None

    def files(self) -> list[dict[str, Any]]:
        """Every file: its item in force (if any) and why the file itself is refused (if)."""
        return [
            {"path": e.path, "item": e.item, "error": e.error}
            for e in sorted(self.entries.values(), key=lambda e: e.path.name)
        ]

    def save(self, ident: str, text: str) -> T:
        """Validate ``text`` and write it as the item's file (atomically); raise the error.

        A new item goes to ``<id>.yaml``; an existing one replaces its file. The id in the
        text must be ``ident``.
        """
        found = self.get(ident)
        path = found[0] if found else self.folder / f"{ident}.yaml"
        item = self._parse(text, str(path))
        if self._ident(item) != ident:
            raise self._error(
                str(path), 1, f"the id in the text is {self._ident(item)!r}, not {ident!r}"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{ident}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        self.refresh()
        return item
