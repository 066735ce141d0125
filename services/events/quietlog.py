"""Access logs without identifiers: no query strings (``/citizen?household=hh-0042``,
``/events?source=car-123``), no client addresses (a student's machine).

A filter on the servers' access loggers (uvicorn, gunicorn, werkzeug) rewrites each record
before any handler formats it: the method, the path and the status stay, for operators.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "werkzeug")
_QUERY = re.compile(r"\?[^\s\"]*")
_ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|\[[0-9a-fA-F:]+\](?::\d+)?")


def scrub(text: str) -> str:
    """``text`` without query strings and IP addresses."""
    return _ADDRESS.sub("-", _QUERY.sub("?[query]", text))


class QuietAccess(logging.Filter):
    """Rewrites an access record's message and arguments without identifiers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):  # gunicorn's access log formats from a mapping
            record.args = {
                k: (scrub(v) if isinstance(v, str) else v) for k, v in record.args.items()
            }
        return True


def install() -> None:
    """Put the filter on every access logger (once)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietAccess) for f in logger.filters):
            logger.addFilter(QuietAccess())
