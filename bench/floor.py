"""The floor: the least a WhatsApp webhook bot can do per message.

Verify the signature, parse the JSON, one Redis round trip (INCR on a
per-user key), answer 200, and post one reply to the Graph API (here: the
load generator's stand-in). Like kmcbot, the reply goes out after the 200,
so webhook latency means the same thing for both. kmcbot's own cost per
message is measured against this.

    .venv/bin/python bench/floor.py --port 8081 --graph-url http://127.0.0.1:9090 \
        --redis-url redis://127.0.0.1:6379/11 --app-secret s3cret --token loadtest-token
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from aiohttp import web

from kmcbot.whatsapp.signature import verify

CONFIG = web.AppKey("config", argparse.Namespace)
REDIS = web.AppKey("redis", aioredis.Redis)
HTTP = web.AppKey("http", aiohttp.ClientSession)
TASKS = web.AppKey("tasks", set)


async def webhook(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    raw = await request.read()
    if not verify(cfg.app_secret.encode(), raw, request.headers.get("X-Hub-Signature-256")):
        return web.json_response({"error": "bad signature"}, status=401)
    payload = orjson.loads(raw)
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            for message in change.get("value", {}).get("messages", []):
                wa_id = message["from"]
                count = await request.app[REDIS].incr(f"floor:{wa_id}")
                task = asyncio.create_task(reply(request.app, wa_id, count))
                request.app[TASKS].add(task)  # held until done, or it may be collected
                task.add_done_callback(request.app[TASKS].discard)
    return web.json_response({"ok": True})


async def reply(app: web.Application, wa_id: str, count: int) -> None:
    cfg = app[CONFIG]
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "type": "text",
        "text": {"body": f"Message {count} received."},
    }
    headers = {"Authorization": f"Bearer {cfg.token}", "Content-Type": "application/json"}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        url = f"{cfg.graph_url}/floor/messages"
        async with app[HTTP].post(url, data=orjson.dumps(body), headers=headers) as resp:
            await resp.read()


async def resources(app: web.Application) -> AsyncIterator[None]:
    # A blocking pool: past 64 connections a command waits for one instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(app[CONFIG].redis_url, max_connections=64)
    app[REDIS] = aioredis.Redis(connection_pool=pool)
    app[HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    app[TASKS] = set()
    yield
    await asyncio.gather(*app[TASKS], return_exceptions=True)
    await app[HTTP].close()
    await app[REDIS].aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    p.add_argument("--graph-url", default="http://127.0.0.1:9090")
    p.add_argument("--token", default="loadtest-token")
    p.add_argument("--app-secret", default="s3cret")
    cfg = p.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop  # as `kmcbot serve` does

        uvloop.install()
    app = web.Application()
    app[CONFIG] = cfg
    app.cleanup_ctx.append(resources)
    app.router.add_post("/webhook", webhook)
    web.run_app(app, host=cfg.host, port=cfg.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
