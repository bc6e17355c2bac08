"""`kmcbot loadtest` against `make run` (issue 19, item 7): it finds the embedded
PostgreSQL by itself for the overbooking check, and its report says plainly when
that check was skipped and that the bookings it made stay in the database."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncpg

from kmcbot.devtools.embedded.postgres import running_postgres_url, start_postgres
from kmcbot.devtools.loadgen.report import Report, percentiles


def test_the_embedded_database_of_a_running_make_run_is_found(tmp_path: Path) -> None:
    assert running_postgres_url(tmp_path) is None  # nothing runs there
    pg = start_postgres(tmp_path)
    try:
        found = running_postgres_url(tmp_path)
        assert found is not None

        async def database() -> str:
            conn = await asyncpg.connect(found, timeout=10)
            try:
                return await conn.fetchval("SELECT current_database()")
            finally:
                await conn.close()

        assert asyncio.run(database()) == "kmcbot"
    finally:
        pg.stop()
    assert running_postgres_url(tmp_path) is None  # stopped: not found any more


def test_the_report_says_when_overbooking_was_not_checked_and_what_stays() -> None:
    def empty(field: dataclasses.Field) -> object:
        if field.default is not dataclasses.MISSING:
            return field.default
        kind = str(field.type)
        return {} if kind.startswith("dict") else [] if kind.startswith("list") else 0

    values = {f.name: empty(f) for f in dataclasses.fields(Report)}
    values["webhook_ms"] = values["reply_ms"] = percentiles([], 50, 90, 99)
    report = Report(
        **{**values, "url": "http://127.0.0.1:8080", "mix": "full", "bookings_made": 12}
    )
    text = report.text()
    assert "overbooking     NOT CHECKED" in text
    assert "the 12 bookings made stay in the database" in text
