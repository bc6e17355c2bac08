"""The names of a citizen's Redis keys, and of the outbox streams.

Keys are named by a keyed hash of the WhatsApp number (the tag), so they never
show a phone number. The tag picks one of `shards` outbox streams, and every
key of the citizen shares that shard's hash tag with its stream:
`kmcbot:{3}:<tag>:s` and `kmcbot:{3}:outbox`. On Redis Cluster a citizen's keys
and their outbox are then in one slot, so each Lua script stays atomic, and the
shards spread the citizens over the cluster's nodes.
"""

from __future__ import annotations

import hashlib
import hmac


def user_tag(pepper: bytes, wa_id: str) -> str:
    """A short keyed hash of a WhatsApp number: names keys and log lines."""
    return hmac.new(pepper, wa_id.encode(), hashlib.sha256).hexdigest()[:16]


def message_key(message_id: str) -> str:
    # WhatsApp ids are ~60 characters; a 16-hex digest keeps the seen-set small.
    return hashlib.sha256(message_id.encode()).hexdigest()[:16]


def sent_key(prefix: str, shards: int, pepper: bytes, message_id: str) -> str:
    """Where the sender keeps, for SENT_NEWS_TTL_S, the callback data of a message
    with booking news it sent, for a status webhook that comes back without it
    (observe/delivery.py). Named by a keyed hash: a `wamid.` id holds the number.
    Its own shard's hash tag, so that a batch of them goes in one script per shard."""
    digest = hmac.new(pepper, b"wamid:" + message_id.encode(), hashlib.sha256).hexdigest()[:20]
    return f"{prefix}:{{{shard_of(digest, shards)}}}:w:{digest}"


def shard_of(tag: str, shards: int) -> int:
    return int(tag[:8], 16) % shards


def outbox_key(prefix: str, shard: int) -> str:
    return f"{prefix}:{{{shard}}}:outbox"


def outbox_keys(prefix: str, shards: int) -> list[str]:
    return [outbox_key(prefix, n) for n in range(shards)]


def erased_key(prefix: str) -> str:
    """Set when an erasure happened and the AOF still holds it (jobs/aof.py)."""
    return f"{prefix}:erased-since"


def dead_letters_of(stream: str) -> str:
    """Where a stream's unreadable entries are kept (same hash tag: same slot)."""
    return f"{stream}:dead"


class Keys:
    """Every key name of one deployment (`prefix`, `shards`)."""

    def __init__(self, prefix: str = "kmcbot", shards: int = 1) -> None:
        self.prefix = prefix
        self.shards = shards
        self.outbox_keys = outbox_keys(prefix, shards)

    def outbox_of(self, tag: str) -> str:
        return self.outbox_keys[shard_of(tag, self.shards)]

    def of(self, tag: str, mkey: str = "") -> dict[str, str]:
        """The citizen's keys; "processing" is message `mkey`'s (see message_key)."""
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
