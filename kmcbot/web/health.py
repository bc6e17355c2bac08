"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from kmcbot import metrics as m
from kmcbot.jobs.reminders import due
from kmcbot.web.keys import PG, REDIS, SENDER_TASK, SETTINGS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await request.app[PG].fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["postgres"] = type(exc).__name__
    try:
        async with asyncio.timeout(2):
            await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = type(exc).__name__
    failed = [name for name, result in checks.items() if result != "ok"]
    problems = [f"{' and '.join(failed)} did not answer"] if failed else []
    sender = request.app.get(SENDER_TASK)
    if sender is not None:  # this process runs the outbox sender
        checks["sender"] = _ended(sender) or "ok"
        if checks["sender"] != "ok":
            problems.append("the outbox sender stopped")
    if problems:
        error = {"error": f"not ready: {'; '.join(problems)}"}
        return web.json_response({"ready": False, **checks, **error}, status=503)
    return web.json_response({"ready": True, **checks})


def _ended(task: asyncio.Task[None]) -> str:
    """Why the task ended ("" while it runs)."""
    if not task.done():
        return ""
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return type(error).__name__ if error is not None else "stopped"


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (open, like /healthz: scrapers carry no token)."""
    settings = request.app[SETTINGS]
    try:
        async with asyncio.timeout(2):
            await request.app[PG].fetchval("SELECT 1")
        postgres = 1
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        postgres = 0
    extra: dict[str, float] = {
        'kmcbot_ready{component="postgres"}': postgres,
        # Whether reminders should be being queued now (Kolkata time): see the alerts.
        "kmcbot_reminders_due": int(due(datetime.now(UTC), settings.reminder_hour)),
    }
    sender = request.app.get(SENDER_TASK)
    if sender is not None:  # this process runs a sender: is it still running?
        extra["kmcbot_sender_running"] = 0 if _ended(sender) else 1
    return await m.handler_for(
        request.app[REDIS], settings.redis_prefix, settings.redis_shards, extra
    )
