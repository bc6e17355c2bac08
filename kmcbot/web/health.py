"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web

from kmcbot import metrics as m
from kmcbot.web.keys import PG, REDIS, SETTINGS


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
    if failed:
        error = {"error": f"not ready: {' and '.join(failed)} did not answer"}
        return web.json_response({"ready": False, **checks, **error}, status=503)
    return web.json_response({"ready": True, **checks})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (open, like /healthz: scrapers carry no token)."""
    settings = request.app[SETTINGS]
    return await m.handler_for(request.app[REDIS], settings.redis_prefix, settings.redis_shards)
