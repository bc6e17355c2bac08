"""Every line kmcbot writes to stderr is JSON, libraries' records included."""

from __future__ import annotations

import subprocess
import sys

import orjson

# Run in a child: logs.setup replaces the root logger's handlers.
CHILD = """
import logging, structlog
from kmcbot import logs
logs.setup("json")
structlog.get_logger().info("own_event", n=1)
try:
    raise RuntimeError("boom")
except RuntimeError:
    logging.getLogger("asyncpg.pool").exception("Failed to restore the pool")
logging.getLogger("some.library").info("too chatty to show")
row = "violates check constraint\\nDETAIL:  Failing row contains (919800000001, Asha Das)."
try:
    raise ValueError(row)
except ValueError:
    logging.getLogger("aiohttp.server").exception("Error handling request")
    structlog.get_logger().exception("own_failure")
"""


def test_library_records_and_tracebacks_come_out_as_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, check=True, timeout=60
    )
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in lines] == [
        "own_event",
        "Failed to restore the pool",
        "Error handling request",
        "own_failure",
    ]
    own, library = lines[:2]
    assert own["n"] == 1 and own["level"] == "info" and "timestamp" in own
    assert library["level"] == "error"
    assert library["logger"] == "asyncpg.pool"
    assert "timestamp" in library
    assert "RuntimeError: boom" in library["exception"]


def test_a_database_row_quoted_in_an_error_never_reaches_the_log() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, check=True, timeout=60
    )
    assert b"919800000001" not in done.stderr and b"Asha" not in done.stderr
    failures = [orjson.loads(line) for line in done.stderr.splitlines()][2:]
    for failure in failures:
        assert "violates check constraint" in failure["exception"]
        assert "DETAIL: (left out of the log)" in failure["exception"]
