"""structlog set-up: one JSON line per event, console rendering on a terminal.

Log lines identify a citizen only by `user`, a keyed hash of the number:
never a phone number, a name or an ID number.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog


def setup(fmt: str = "json", level: int = logging.INFO) -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "console":
        renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer()
        factory: structlog.typing.WrappedLogger = structlog.PrintLoggerFactory(sys.stderr)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(sys.stderr.buffer)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # aiohttp's own access log would repeat each request in another format.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
