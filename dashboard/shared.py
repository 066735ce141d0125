"""One view of the town for a whole class: computed once per tick, sent as differences.

Thirty students watching the same town used to cost thirty fetches and thirty figures per
tick, each sent whole (about 190 KB). Here a pane's outputs are computed once for everyone
who asks for the same thing (the same API, role, layer, window and replay time) within
``ttl_s``; the others get that result (single flight: a second asker waits for the first
instead of computing again). Each result is a numbered *version*; the browser keeps the
number of the version it shows, and the next refresh sends only what changed since then:
``no_update`` for an unchanged output and, for the map, a Dash ``Patch`` that replaces the
traces that changed (the town's streets, buildings and lake are never sent again).

The role is part of the key because what the API releases depends on who asks; the policy
is the API's own (one policy per API), so the API's address stands for it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import count
from typing import Any

import dash
import plotly.io.json as pio_json
from dash import Patch


def _hash(value: Any) -> str:
    blob = pio_json.to_json_plotly(value)
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


# the town's traces are the same objects on every tick (dashboard.figures caches them): their
# fingerprints are kept by identity, with the object itself, so that an id is never reused
_TRACE_HASHES: dict[int, tuple[Any, str]] = {}
_TRACE_HASHES_MAX = 512
_trace_lock = threading.Lock()


def _trace_hash(trace: Any) -> str:
    with _trace_lock:
        found = _TRACE_HASHES.get(id(trace))
    if found is not None and found[0] is trace:
        return found[1]
    digest = _hash(trace)
    from dashboard.figures import is_town_trace

    if is_town_trace(trace):
        with _trace_lock:
            if len(_TRACE_HASHES) >= _TRACE_HASHES_MAX:
                _TRACE_HASHES.clear()
            _TRACE_HASHES[id(trace)] = (trace, digest)
    return digest


@dataclass(frozen=True)
class Version:
    """One computed view: its number, outputs by component id, and their fingerprints."""

    number: int
    outputs: Mapping[str, Any]
    hashes: Mapping[str, str]  # of each output that is not a figure
    figures: Mapping[str, tuple[str, tuple[str, ...]]]  # figure id -> (layout, traces) hashes


def _fingerprint(number: int, outputs: Mapping[str, Any], figure_ids: tuple[str, ...]) -> Version:
    hashes: dict[str, str] = {}
    figures: dict[str, tuple[str, tuple[str, ...]]] = {}
    plain: dict[str, Any] = {}
    for key, value in outputs.items():
        if key in figure_ids:
            fig = value.to_plotly_json() if hasattr(value, "to_plotly_json") else dict(value)
            fig = {"data": list(fig.get("data") or []), "layout": fig.get("layout") or {}}
            plain[key] = fig
            figures[key] = (_hash(fig["layout"]), tuple(_trace_hash(t) for t in fig["data"]))
        else:
            plain[key] = value
            hashes[key] = _hash(value)
    return Version(number, plain, hashes, figures)


class SharedView:
    """A small cache of computed views: fresh for ``ttl_s``, the last ``keep`` versions
    remembered so that a browser's differences can be worked out."""

    def __init__(self, ttl_s: float = 1.0, keep: int = 256) -> None:
        self.ttl_s = ttl_s
        self.keep = keep
        self._lock = threading.Lock()
        self._fresh: dict[Hashable, tuple[float, Version]] = {}
        self._flights: dict[Hashable, threading.Lock] = {}
        self._versions: OrderedDict[int, Version] = OrderedDict()
        self._numbers = count(1)
        self.computed = 0  # how many times a view was computed (for tests and benchmarks)

    def view(
        self,
        key: Hashable,
        compute: Callable[[], Mapping[str, Any]],
        figure_ids: tuple[str, ...] = (),
    ) -> Version:
        """The view of ``key``: the fresh one if there is one, else computed once."""
        with self._lock:
            fresh = self._fresh.get(key)
            if fresh and time.monotonic() - fresh[0] < self.ttl_s:
                return fresh[1]
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:  # one computation per key at a time; the others wait and reuse it
            with self._lock:
                fresh = self._fresh.get(key)
                if fresh and time.monotonic() - fresh[0] < self.ttl_s:
                    return fresh[1]
            outputs = compute()
            version = _fingerprint(next(self._numbers), outputs, figure_ids)
            with self._lock:
                self.computed += 1
                self._fresh[key] = (time.monotonic(), version)
                self._versions[version.number] = version
                while len(self._versions) > self.keep:
                    self._versions.popitem(last=False)
                if len(self._fresh) > self.keep:  # keys nobody asks for any more
                    now = time.monotonic()
                    for k in [k for k, (t, _v) in self._fresh.items() if now - t > self.ttl_s]:
                        self._fresh.pop(k, None)
            return version

    def since(self, version: Version, shown: int | None) -> dict[str, Any]:
        """The outputs a browser showing version ``shown`` needs to show ``version``: all of
        them if that version is unknown (first load, or forgotten), else the changes only."""
        with self._lock:
            old = self._versions.get(shown) if shown is not None else None
        if old is None:
            return dict(version.outputs)
        out: dict[str, Any] = {}
        for key, value in version.outputs.items():
            if key in version.figures:
                out[key] = _figure_patch(old, version, key)
            elif old.hashes.get(key) == version.hashes[key]:
                out[key] = dash.no_update
            else:
                out[key] = value
        return out


def _figure_patch(old: Version, new: Version, key: str) -> Any:
    """``no_update``, a ``Patch`` of the traces that changed, or the whole figure."""
    if key not in old.figures:
        return new.outputs[key]
    old_layout, old_traces = old.figures[key]
    new_layout, new_traces = new.figures[key]
    if old_layout != new_layout:
        return new.outputs[key]
    if old_traces == new_traces:
        return dash.no_update
    data = new.outputs[key]["data"]
    patch = Patch()
    # from the end backwards, so that each step's indices are still those of the browser's
    matcher = SequenceMatcher(a=old_traces, b=new_traces, autojunk=False)
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == "equal":
            continue
        common = min(i2 - i1, j2 - j1)
        for k in range(common):
            patch["data"][i1 + k] = data[j1 + k]
        for i in range(i2 - 1, i1 + common - 1, -1):
            del patch["data"][i]
        for k, j in enumerate(range(j1 + common, j2)):
            patch["data"].insert(i1 + common + k, data[j])
    return patch
