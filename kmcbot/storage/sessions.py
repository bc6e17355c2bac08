"""The Redis side of one citizen: dedupe, per-user lock, session, profile, outbox.

Keys are named by a keyed hash of the WhatsApp number (the tag), so they never
show a phone number. The tag picks one of `shards` outbox streams, and every
key of the citizen shares that shard's hash tag with its stream:
`kmcbot:{3}:<tag>:s` and `kmcbot:{3}:outbox`. On Redis Cluster a citizen's keys
and their outbox are then in one slot, so each Lua script below stays atomic,
and the shards spread the citizens over the cluster's nodes.

Two scripts carry the whole protocol:

- BEGIN: is this message done (duplicate) or being worked on elsewhere? If not,
  mark it "processing" with a short lease, take the citizen's lock, and return
  the stored session and profile.
- COMMIT: compare-and-set the session on its version (a lock that expired
  mid-step must not overwrite a newer session), save the profile, append the
  replies to the citizen's outbox stream, mark the message done and release the lock.
  Session, replies and "done" land together or not at all. A turn's replies
  are one outbox entry (a JSON array of Cloud API bodies), so one sender
  sends them, in order.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

SESSION_TTL_S = 30 * 60
PROFILE_TTL_S = 180 * 24 * 3600
SEEN_TTL_S = 7 * 24 * 3600  # WhatsApp redelivers for up to 7 days
LEASE_MS = 10_000
RATE_LIMIT_PER_MINUTE = 20

_BEGIN = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'dup'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'busy'} end
local now = tonumber(ARGV[5])
-- Nobody waiting (the usual case): take the lock if it is free.
local locked = redis.call('EXISTS', KEYS[7]) == 0
  and redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3])
if not locked then
  -- Messages waiting for the lock take it in the order they arrived: a queue
  -- (KEYS[7], scored by an arrival counter, as milliseconds can tie) and the time
  -- each waiter last asked (KEYS[8]); a waiter that stopped asking (its request
  -- gave up) leaves the queue.
  for _, waiting in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
    local polled = tonumber(redis.call('HGET', KEYS[8], waiting) or '0')
    if polled < now - 2000 then
      redis.call('ZREM', KEYS[7], waiting)
      redis.call('HDEL', KEYS[8], waiting)
    end
  end
  if not redis.call('ZSCORE', KEYS[7], ARGV[1]) then
    redis.call('ZADD', KEYS[7], redis.call('HINCRBY', KEYS[8], '#arrivals', 1), ARGV[1])
  end
  redis.call('HSET', KEYS[8], ARGV[1], now)
  redis.call('PEXPIRE', KEYS[7], 60000)
  redis.call('PEXPIRE', KEYS[8], 60000)
  if redis.call('ZRANGE', KEYS[7], 0, 0)[1] ~= ARGV[1] then return {'locked'} end
  if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'locked'} end
  redis.call('ZREM', KEYS[7], ARGV[1])
  redis.call('HDEL', KEYS[8], ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
-- The messages of the last minute, each counted once however often it is
-- delivered again: a redelivery keeps its first place in the line.
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 60000)
redis.call('ZADD', KEYS[6], 'NX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[6], 60000)
local place = redis.call('ZRANK', KEYS[6], ARGV[1]) + 1
return {'ok', redis.call('GET', KEYS[4]) or '', redis.call('GET', KEYS[5]) or '',
        place - tonumber(ARGV[4])}
"""

_COMMIT = """
local cur = redis.call('GET', KEYS[4])
local version = 0
if cur then version = tonumber(string.match(cur, '^(%d+):')) or 0 end
if version ~= tonumber(ARGV[3]) then return 'conflict' end
if ARGV[13] == '1' then
  redis.call('DEL', KEYS[4], KEYS[5])  -- "delete my data": nothing of the citizen stays
else
  redis.call('SET', KEYS[4], (version + 1) .. ':' .. ARGV[4], 'EX', ARGV[5])
  if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[6], 'EX', ARGV[7]) end
end
local now = tonumber(ARGV[8])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[9]))
redis.call('EXPIRE', KEYS[1], ARGV[9])
if ARGV[14] ~= '' and ARGV[12] ~= '' then
  redis.call('XADD', KEYS[6], '*', 'to', ARGV[10], 'tag', ARGV[11], 'bodies', ARGV[14],
             'news', ARGV[12])
elseif ARGV[14] ~= '' then
  redis.call('XADD', KEYS[6], '*', 'to', ARGV[10], 'tag', ARGV[11], 'bodies', ARGV[14])
end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 'ok'
"""

# Give the message and the lock up, if they are still ours: a redelivery can
# then be handled at once instead of waiting for the lease to run out.
_ABORT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 'ok'
"""


# A citizen's number or user id changed: the new id takes the old one's session
# and profile, unless it has its own already.
_ADOPT = """
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], '1:' .. ARGV[1], 'NX', 'EX', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) end
return 'ok'
"""


class Script(Protocol):
    async def __call__(self, keys: Sequence[Any] = ..., args: Sequence[Any] = ...) -> Any: ...


class Commands(Protocol):
    """What runs the scripts: a redis-py client (also a cluster one), or redis_pipe's."""

    def register_script(self, script: str) -> Script: ...


class Begin(StrEnum):
    OK = "ok"
    DUPLICATE = "dup"  # handled before: do nothing, answer 200
    BUSY = "busy"  # being handled elsewhere right now
    LOCKED = "locked"  # another message of this citizen is being handled


@dataclass(frozen=True, slots=True)
class Loaded:
    status: Begin
    token: str = ""
    version: int = 0  # 0: no session stored
    session: str = ""  # the session JSON, "" when none
    profile: str = ""
    # Messages over the per-minute limit: 1 for the first one over (it gets a
    # notice), more for the rest (silence until the minute is over).
    over_limit: int = 0


class Conflict(Exception):
    """The session changed under us (our lock had expired): redo the step."""


def user_tag(pepper: bytes, wa_id: str) -> str:
    """A short keyed hash of a WhatsApp number: names keys and log lines."""
    return hmac.new(pepper, wa_id.encode(), hashlib.sha256).hexdigest()[:16]


def shard_of(tag: str, shards: int) -> int:
    return int(tag[:8], 16) % shards


def outbox_key(prefix: str, shard: int) -> str:
    return f"{prefix}:{{{shard}}}:outbox"


def outbox_keys(prefix: str, shards: int) -> list[str]:
    return [outbox_key(prefix, n) for n in range(shards)]


def bodies_array(bodies: Sequence[str]) -> str:
    """Cloud API bodies (each JSON already) as one JSON array: an outbox entry's "bodies"."""
    return f"[{','.join(bodies)}]" if bodies else ""


def message_key(message_id: str) -> str:
    # WhatsApp ids are ~60 characters; a 16-hex digest keeps the seen-set small.
    return hashlib.sha256(message_id.encode()).hexdigest()[:16]


class SessionStore:
    def __init__(
        self, redis: Commands, prefix: str = "kmcbot", lease_ms: int = LEASE_MS, shards: int = 1
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.shards = shards
        self.outbox_keys = outbox_keys(prefix, shards)
        self._begin = redis.register_script(_BEGIN)
        self._commit = redis.register_script(_COMMIT)
        self._abort = redis.register_script(_ABORT)
        self._adopt = redis.register_script(_ADOPT)

    def outbox_of(self, tag: str) -> str:
        return self.outbox_keys[shard_of(tag, self.shards)]

    def keys(self, tag: str, message_id: str = "") -> dict[str, str]:
        return self._keys(tag, message_key(message_id))

    def _keys(self, tag: str, mkey: str) -> dict[str, str]:
        base = f"{self.prefix}:{{{shard_of(tag, self.shards)}}}:{tag}"
        return {
            "seen": f"{base}:seen",
            "processing": f"{base}:m:{mkey}",
            "lock": f"{base}:lock",
            "session": f"{base}:s",
            "profile": f"{base}:p",
            "rate": f"{base}:r",
            "queue": f"{base}:q",
            "polled": f"{base}:qp",
        }

    async def begin(self, tag: str, message_id: str, lease_ms: int | None = None) -> Loaded:
        mkey = message_key(message_id)  # hashed once: a key name and an argument
        k = self._keys(tag, mkey)
        lease_ms = lease_ms or self.lease_ms
        token = secrets.token_hex(8)  # a new lock value per acquisition
        result = await self._begin(
            keys=[
                k["seen"],
                k["processing"],
                k["lock"],
                k["session"],
                k["profile"],
                k["rate"],
                k["queue"],
                k["polled"],
            ],
            args=[
                mkey,
                token,
                lease_ms,
                RATE_LIMIT_PER_MINUTE,
                int(time.time() * 1000),
            ],
        )
        status = Begin(_s(result[0]))
        if status is not Begin.OK:
            return Loaded(status)
        stored = _s(result[1])
        version, _, session = stored.partition(":")
        return Loaded(
            Begin.OK,
            token=token,
            version=int(version) if stored else 0,
            session=session,
            profile=_s(result[2]),
            over_limit=max(0, int(result[3])),
        )

    async def commit(
        self,
        tag: str,
        message_id: str,
        loaded: Loaded,
        *,
        session: str,
        profile: str | None,
        to: str,
        bodies: Sequence[str],
        now_s: float,
        news: str = "",
        erase: bool = False,
    ) -> None:
        """Save session and profile, queue the replies, mark the message done.

        `news` (booking news the replies carry, see relay.py) rides on the
        replies' entry, so the sender can mark it relayed once WhatsApp has accepted it.
        `erase` deletes the session and profile instead of saving them.
        """
        mkey = message_key(message_id)
        k = self._keys(tag, mkey)
        args: list[str | int | float] = [
            mkey,
            loaded.token,
            loaded.version,
            session,
            SESSION_TTL_S,
            profile or "",
            PROFILE_TTL_S,
            now_s,
            SEEN_TTL_S,
            to,
            tag,
            news,
            "1" if erase else "0",
            bodies_array(bodies),
        ]
        keys = [
            k["seen"],
            k["processing"],
            k["lock"],
            k["session"],
            k["profile"],
            self.outbox_of(tag),
        ]
        if _s(await self._commit(keys=keys, args=args)) == "conflict":
            raise Conflict(tag)

    async def adopt(self, tag: str, session: str, profile: str) -> None:
        """Give citizen `tag` this session and profile (from their old id), unless
        they have their own."""
        k = self._keys(tag, "")
        await self._adopt(
            keys=[k["session"], k["profile"]], args=[session, SESSION_TTL_S, profile, PROFILE_TTL_S]
        )

    async def abort(self, tag: str, message_id: str, loaded: Loaded) -> None:
        k = self.keys(tag, message_id)
        await self._abort(keys=[k["processing"], k["lock"]], args=[loaded.token])


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
