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
logging.getLogger("some.library").debug("too chatty to show")
"""


def test_library_records_and_tracebacks_come_out_as_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, check=True, timeout=60
    )
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in lines] == ["own_event", "Failed to restore the pool"]
    own, library = lines
    assert own["n"] == 1 and own["level"] == "info" and "timestamp" in own
    assert library["level"] == "error"
    assert library["logger"] == "asyncpg.pool"
    assert "timestamp" in library
    assert "RuntimeError: boom" in library["exception"]
