"""structlog set-up: one JSON line per event, console rendering on a terminal.

Log lines identify a citizen only by `user`, a keyed hash of the number:
never a phone number, a name or an ID number.
"""

from __future__ import annotations

import logging
import re
import sys

import orjson
import structlog

_HANDLER = "kmcbot"
_DETAIL = re.compile(r"^DETAIL:.*$", re.MULTILINE)


def without_details(
    logger: object, name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """PostgreSQL's errors carry a DETAIL line that can quote a row ("Failing row
    contains (...)": a number, a name); asyncpg puts it in the exception's text."""
    for field in ("exception", "event"):
        text = event.get(field)
        if isinstance(text, str) and "DETAIL:" in text:
            event[field] = _DETAIL.sub("DETAIL: (left out of the log)", text)
    return event


def setup(fmt: str = "json", level: int = logging.INFO) -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "console":
        renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer()
        factory: structlog.typing.WrappedLogger = structlog.PrintLoggerFactory(sys.stderr)
        text_renderer = renderer
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(sys.stderr.buffer)
        text_renderer = structlog.processors.JSONRenderer(
            serializer=lambda event, **kw: orjson.dumps(event, **kw).decode()
        )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, without_details, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library (asyncpg's pool, aiohttp's
    # request errors): their records become the same lines, not plain-text
    # tracebacks in the middle of the JSON.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                without_details,
                text_renderer,
            ],
        )
    )
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)  # set up again (tests): one line per record still
    root.addHandler(handler)
    # Libraries' warnings and errors; their info lines (pgserver's commands, say)
    # would drown kmcbot's own.
    root.setLevel(max(level, logging.WARNING))
    # aiohttp's own access log would repeat each request in another format.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
