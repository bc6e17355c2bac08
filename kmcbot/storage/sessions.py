"""The Redis side of one citizen: dedupe, per-user lock, session, profile, outbox.

Every key of a citizen and their outbox stream share one hash tag (keys.py),
so each Lua script below stays atomic, on Redis Cluster too.

Three scripts carry the whole protocol:

- BEGIN (lua/begin.lua): is this message done (duplicate) or being worked on
  elsewhere? If not, mark it "processing" with a short lease, take the
  citizen's lock, and return the stored session and profile.
- COMMIT (lua/commit.lua): compare-and-set the session on its version (a lock
  that expired mid-step must not overwrite a newer session), save the profile,
  append the replies to the citizen's outbox stream, mark the message done and
  release the lock. Session, replies and "done" land together or not at all. A
  turn's replies are one outbox entry (outbox/entry.py), so one sender sends
  them, in order.
- ABORT (lua/abort.lua): give the message's lease and the lock back, so that a
  redelivery, or this message tried again, is handled at once.

The store hands out and takes typed values (the dialogue's Session, a Profile);
their JSON stays in here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import orjson
import structlog

from kmcbot.dialogue.model import Lang, Session, session_from_dict, session_to_dict
from kmcbot.outbox.entry import OutboxEntry
from kmcbot.storage.keys import Keys, erased_key, message_key
from kmcbot.storage.scripts import lua

log = structlog.get_logger()

SESSION_TTL_S = 30 * 60
# A conversation left mid-way is kept a day, so that the citizen can continue
# where they left off (the dialogue still treats it as expired after 30 minutes).
UNFINISHED_TTL_S = 24 * 3600
PROFILE_TTL_S = 180 * 24 * 3600
SEEN_TTL_S = 7 * 24 * 3600  # WhatsApp redelivers for up to 7 days
MAX_SEEN = 500  # "seen" marks kept per citizen, the newest (issue 18: 6,000 were 767 KB)
LEASE_MS = 10_000
RATE_LIMIT_PER_MINUTE = 20
# Messages of one citizen waiting for its lock at once (issue 18: 400 at once
# from one number slowed every citizen); beyond it, 503 at once.
MAX_WAITING = 10

_BEGIN = lua("begin")
_COMMIT = lua("commit")
_ABORT = lua("abort")


_DROP_WAITING = lua("drop_waiting")
_MARK_ERASED = lua("mark_erased")
_ADOPT = lua("adopt")

DROP_PAGE = 500


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
    FULL = "full"  # too many messages of this citizen wait already (MAX_WAITING)


@dataclass(frozen=True, slots=True)
class Profile:
    """What is kept of a citizen between sessions (for PROFILE_TTL_S)."""

    lang: Lang | None = None
    open: bool = False  # a conversation was under way (its session may expire)
    seen: int | None = None  # when the citizen last wrote (Unix s): the relay's 24-hour window
    last: str | None = None  # the last booking's reference ("Same as before?"), never a name
    at: str | None = None  # the open conversation's step: where it expired (observe/funnel.py)

    def encode(self) -> str:
        fields: dict[str, object] = {"lang": self.lang, "open": int(self.open), "seen": self.seen}
        if self.last:
            fields["last"] = self.last
        if self.at:
            fields["at"] = self.at
        return orjson.dumps(fields).decode()

    @classmethod
    def decode(cls, stored: str | bytes | None) -> Profile:
        """A stored profile; anything unreadable reads as no profile."""
        try:
            value = orjson.loads(stored) if stored else {}
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(value, dict):
            return cls()
        seen = value.get("seen")
        return cls(
            lang=_lang(value.get("lang")),
            open=bool(value.get("open")),
            seen=seen if isinstance(seen, int) and not isinstance(seen, bool) else None,
            last=last if isinstance(last := value.get("last"), str) and last else None,
            at=at[:32] if isinstance(at := value.get("at"), str) and at else None,
        )


@dataclass(frozen=True, slots=True)
class Loaded:
    status: Begin
    token: str = ""
    version: int = 0  # 0: no session stored
    session: Session | None = None  # None: none stored, or unreadable (starts over)
    profile: Profile = field(default_factory=Profile)
    # Messages over the per-minute limit: 1 for the first one over (it gets a
    # notice), more for the rest (silence until the minute is over).
    over_limit: int = 0
    stored: str = field(default="", repr=False)  # the session as stored, kept by commit(None)


class Conflict(Exception):
    """The session changed under us (our lock had expired): redo the step."""


class SessionStore:
    def __init__(
        self, redis: Commands, prefix: str = "kmcbot", lease_ms: int = LEASE_MS, shards: int = 1
    ) -> None:
        self.redis = redis
        self.lease_ms = lease_ms
        self.names = Keys(prefix, shards)
        self._begin = redis.register_script(_BEGIN)
        self._commit = redis.register_script(_COMMIT)
        self._abort = redis.register_script(_ABORT)
        self._drop_waiting = redis.register_script(_DROP_WAITING)
        self._mark_erased = redis.register_script(_MARK_ERASED)
        self._adopt = redis.register_script(_ADOPT)

    @property
    def outbox_keys(self) -> list[str]:
        return self.names.outbox_keys

    def outbox_of(self, tag: str) -> str:
        return self.names.outbox_of(tag)

    def keys(self, tag: str, message_id: str = "") -> dict[str, str]:
        return self.names.of(tag, message_key(message_id))

    async def begin(self, tag: str, message_id: str, lease_ms: int | None = None) -> Loaded:
        mkey = message_key(message_id)  # hashed once: a key name and an argument
        k = self.names.of(tag, mkey)
        token = secrets.token_hex(8)  # a new lock value per acquisition
        keys = ("seen", "processing", "lock", "session", "profile", "rate", "queue", "polled")
        result = await self._begin(
            keys=[k[name] for name in keys],
            args=[
                mkey,
                token,
                lease_ms or self.lease_ms,
                RATE_LIMIT_PER_MINUTE,
                int(time.time() * 1000),
                MAX_WAITING,
            ],
        )
        status = Begin(_s(result[0]))
        if status is not Begin.OK:
            return Loaded(status)
        version, _, stored = _s(result[1]).partition(":")
        return Loaded(
            Begin.OK,
            token=token,
            version=int(version) if version else 0,
            session=_session(stored, tag),
            profile=Profile.decode(result[2]),
            over_limit=max(0, int(result[3])),
            stored=stored,
        )

    async def commit(
        self,
        tag: str,
        message_id: str,
        loaded: Loaded,
        *,
        session: Session | None,
        profile: Profile | None,
        entry: OutboxEntry | None,
        now_s: float,
        erase: bool = False,
        session_ttl_s: int = SESSION_TTL_S,
    ) -> None:
        """Save session and profile, queue the replies, mark the message done.

        `session` None keeps the stored one as it is; `profile` None keeps the
        stored profile. The entry's booking news is marked relayed by the sender
        once WhatsApp has accepted its replies (relay.py). `erase` deletes the
        session and profile instead of saving them.
        `session_ttl_s`: how long Redis keeps the session (UNFINISHED_TTL_S mid-way).
        """
        mkey = message_key(message_id)
        k = self.names.of(tag, mkey)
        stored = loaded.stored if session is None else orjson.dumps(session_to_dict(session))
        args: list[str | bytes | int | float] = [
            mkey,
            loaded.token,
            loaded.version,
            stored,
            session_ttl_s,
            profile.encode() if profile is not None else "",
            PROFILE_TTL_S,
            now_s,
            SEEN_TTL_S,
            "1" if erase else "0",
            MAX_SEEN,
            *(entry.flat() if entry is not None else ()),
        ]
        keys = [k["seen"], k["processing"], k["lock"], k["session"], k["profile"]]
        keys.append(self.names.outbox_of(tag))
        if _s(await self._commit(keys=keys, args=args)) == "conflict":
            raise Conflict(tag)

    async def drop_waiting(self, tag: str) -> int:
        """Delete the citizen's outbox entries not sent yet; how many went."""
        start, dropped = "-", 0
        while start:
            start, count = await self._drop_waiting(
                keys=[self.outbox_of(tag)], args=[start, DROP_PAGE, tag]
            )
            start, dropped = _s(start), dropped + int(count)
        return dropped

    async def mark_erased(self, now_s: float) -> None:
        """Tell jobs/aof.py that the append-only file holds erased data."""
        await self._mark_erased(keys=[erased_key(self.names.prefix)], args=[int(now_s)])

    async def adopt(self, tag: str, loaded: Loaded) -> None:
        """Give citizen `tag` the session and profile `loaded` from their old id,
        unless they have their own (lua/adopt.lua)."""
        k = self.names.of(tag, "")
        profile = loaded.profile.encode() if loaded.profile != Profile() else ""
        await self._adopt(
            keys=[k["session"], k["profile"]],
            args=[loaded.stored, SESSION_TTL_S, profile, PROFILE_TTL_S],
        )

    async def abort(self, tag: str, message_id: str, loaded: Loaded) -> None:
        k = self.keys(tag, message_id)
        await self._abort(keys=[k["processing"], k["lock"]], args=[loaded.token])


def _session(stored: str, tag: str) -> Session | None:
    if not stored:
        return None
    try:
        return session_from_dict(orjson.loads(stored))
    except (ValueError, TypeError, KeyError) as exc:
        # A corrupt or outdated session starts over; it must never break the webhook.
        log.warning("session_reset", user=tag, reason=type(exc).__name__)
        return None


def _lang(value: object) -> Lang | None:
    try:
        return Lang(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
