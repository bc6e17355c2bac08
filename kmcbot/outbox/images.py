"""The check-in QR image of a ticket, made and uploaded when it is sent.

The dialogue asks for it with a `CheckinQr` reply, which the outbox carries as an
image message with a `kmcbot_qr` field (whatsapp/outbound.py) instead of a media
id. Just before sending it, the sender has this module make the PNG (the
reference and a token signed over the reference and its code: staff/qr.py,
nothing personal), upload it (the Cloud API's `POST /{phone-number-id}/media`)
and put the media id in the body. A booking's QR is uploaded once: its media id
is kept in Redis for 29 days (WhatsApp keeps media 30), under a hash of the
payload, so a moved booking (same reference, same code) or a resend reuses it.
"""

from __future__ import annotations

import hashlib

import orjson
import redis.asyncio as aioredis
import structlog

from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.staff import qr
from kmcbot.whatsapp.graph import SendResult, Sent, Transport
from kmcbot.whatsapp.outbound import QR_FIELD

log = structlog.get_logger()

MEDIA_KEPT_S = 29 * 24 * 3600
SCALE = 10  # pixels per module: about 370 px square, sharp on a phone
_MARK = f'"{QR_FIELD}":'.encode()  # only a key can hold it: in a string the quote is escaped


def wants_qr(body: bytes) -> bool:
    return _MARK in body


class QrImages:
    def __init__(
        self,
        transport: Transport,
        redis: aioredis.Redis,
        limiter: SharedRateLimiter,
        *,
        pepper: bytes,
        prefix: str,
    ) -> None:
        self.transport = transport
        self.redis = redis
        self.limiter = limiter
        self.pepper = pepper
        self.prefix = prefix
        self.uploads = 0

    async def ready(self, body: bytes) -> bytes | SendResult:
        """The image message to send (with the media id), or the failed upload's result
        (Sent.RETRY: try again later; Sent.PERMANENT: this image cannot go)."""
        message = orjson.loads(body)
        want = message.pop(QR_FIELD)
        text = qr.payload(self.pepper, want["reference"], want["code"])
        key = f"{self.prefix}:qr-media:{hashlib.sha256(text.encode()).hexdigest()[:32]}"
        cached = await self.redis.get(key)
        if cached is not None:
            media_id = cached.decode() if isinstance(cached, bytes) else str(cached)
        else:
            await self.limiter.acquire()  # a Graph call like a send: within KMCBOT_SEND_RATE
            result = await self.transport.upload(qr.png(text, scale=SCALE), "image/png")
            if result.outcome is not Sent.OK or not result.media_id:
                log.warning("qr_upload_failed", code=result.code, status=result.status)
                return result if result.outcome is not Sent.OK else SendResult(Sent.RETRY)
            media_id = result.media_id
            self.uploads += 1
            await self.redis.set(key, media_id, ex=MEDIA_KEPT_S)
        message["image"]["id"] = media_id
        return orjson.dumps(message)
