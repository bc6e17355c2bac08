"""Typed keys for what the app shares between handlers (no globals)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from kmcbot.outbox.dev import DevTransport
from kmcbot.pipeline import Pipeline
from kmcbot.settings import Settings
from kmcbot.waitlist.job import OfferJob
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
# The waitlist's offer job of this process (kmcbot/waitlist/job.py).
OFFER_JOB = web.AppKey("offer_job", OfferJob)


def wake_offers(config: Mapping[Any, Any]) -> None:
    """Places may have appeared (sessions, capacity, supply): offer them now."""
    job = config.get(OFFER_JOB)
    if job is not None:
        job.wake()
