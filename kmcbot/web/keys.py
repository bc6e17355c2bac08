"""Typed keys for what the app shares between handlers (no globals)."""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from kmcbot.outbox.dev import DevTransport
from kmcbot.pipeline import Pipeline
from kmcbot.settings import Settings
from kmcbot.web.uploads import BodyBudget

SETTINGS = web.AppKey("settings", Settings)
PG = web.AppKey("pg", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
PIPELINE = web.AppKey("pipeline", Pipeline)
DEV_OUTBOX = web.AppKey("dev_outbox", DevTransport)
# The hot path's scripts: a pipelined connection where the URL allows, else REDIS.
COMMANDS = web.AppKey("commands", object)
# The outbox sender's task, when this process runs one: /readyz reports its end.
SENDER_TASK = web.AppKey("sender_task", asyncio.Task)
BODY_BUDGET = web.AppKey("body_budget", BodyBudget)
