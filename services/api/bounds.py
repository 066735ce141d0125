"""Bounds on what one request may cost: its body size, and the previews each user may run.

A classroom's students share one API; whatever one of them sends must not stall the others.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(HTTPException):
    """Raised from the body's stream: an HTTPException, so FastAPI answers it as such (any
    other error while it reads a body becomes its generic 400)."""


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413 naming the limit.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    sent in chunks (or with a false length) is counted as it arrives and refused at the
    first byte over. Starlette's own limiter answers "Content Too Large" without the figure.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    def _reason(self) -> str:
        return (
            f"request body larger than {self.limit:,} bytes "
            f"(the limit, AQKOL_MAX_BODY_BYTES={self.limit})"
        )

    def _refusal(self) -> JSONResponse:
        return JSONResponse(
            {"detail": self._reason()}, status_code=status.HTTP_413_CONTENT_TOO_LARGE
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                if declared is not None and declared > self.limit:
                    await self._refusal()(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(status.HTTP_413_CONTENT_TOO_LARGE, self._reason())
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refusal()(scope, receive, send)


class PreviewGate:
    """At most ``per_user`` previews of one user and ``total`` of everyone at a time."""

    def __init__(self, per_user: int, total: int):
        self.per_user, self.total = per_user, total
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    @contextmanager
    def slot(self, username: str) -> Iterator[None]:
        """Hold a slot while the preview runs; 429 with the reason when none is free."""
        with self._lock:
            if self._running[username] >= self.per_user:
                raise _busy(
                    f"a preview of yours is already running (at most {self.per_user} at a "
                    "time per user): wait for its answer"
                )
            if self._running.total() >= self.total:
                raise _busy(
                    f"{self.total} previews are running for the class (the most at a time): "
                    "try again in a few seconds"
                )
            self._running[username] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[username] -= 1
                if self._running[username] <= 0:
                    del self._running[username]


def _busy(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, reason, headers={"Retry-After": "2"})
