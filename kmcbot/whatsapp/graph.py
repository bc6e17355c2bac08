"""The Graph API transport: POSTs Cloud API bodies (and uploads media), and tells a
retry from a refusal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp
import orjson

# Graph API error codes that mean "slow down" (retry later), from the Cloud API docs.
THROTTLE_CODES = {4, 80007, 130429, 131048, 131056}


class Sent(StrEnum):
    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Sent
    code: int | None = None  # the Graph API error code, when there is one
    status: int | None = None  # the HTTP status
    media_id: str | None = None  # an upload's, when it was accepted
    message_id: str | None = None  # a send's (the wamid WhatsApp's statuses name), when accepted


class Transport(Protocol):
    async def send(self, to: str, body: bytes) -> SendResult: ...

    async def upload(self, data: bytes, mime: str) -> SendResult: ...


class GraphTransport:
    """POSTs bodies to `{graph_url}/{phone_number_id}/messages`, and media (multipart)
    to `{graph_url}/{phone_number_id}/media`."""

    def __init__(
        self, http: aiohttp.ClientSession, graph_url: str, phone_number_id: str, token: str
    ) -> None:
        self.http = http
        self.url = f"{graph_url}/{phone_number_id}/messages"
        self.media_url = f"{graph_url}/{phone_number_id}/media"
        self.auth = {"Authorization": f"Bearer {token}"}
        self.headers = {**self.auth, "Content-Type": "application/json"}
        self.timeout = aiohttp.ClientTimeout(total=15)

    async def send(self, to: str, body: bytes) -> SendResult:
        return await self._post(self.url, body, self.headers, upload=False)

    async def upload(self, data: bytes, mime: str) -> SendResult:
        """The Cloud API's media upload: the answer's "id" is the media id (kept by
        WhatsApp for 30 days)."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime)
        form.add_field("file", data, filename="checkin-qr.png", content_type=mime)
        return await self._post(self.media_url, form, self.auth, upload=True)

    async def _post(
        self, url: str, data: bytes | aiohttp.FormData, headers: dict[str, str], *, upload: bool
    ) -> SendResult:
        try:
            async with self.http.post(
                url, data=data, headers=headers, timeout=self.timeout
            ) as resp:
                if resp.status < 300:
                    if upload:
                        try:
                            media_id = str((await resp.json(content_type=None))["id"])
                        except Exception:  # noqa: BLE001 - accepted, but no id: try again
                            return SendResult(Sent.RETRY, status=resp.status)
                        return SendResult(Sent.OK, status=resp.status, media_id=media_id)
                    return SendResult(
                        Sent.OK, status=resp.status, message_id=_message_id(await resp.read())
                    )
                try:
                    code = int((await resp.json(content_type=None))["error"]["code"])
                except Exception:  # noqa: BLE001 - any unreadable error body is "no code"
                    code = None
                return SendResult(classify(resp.status, code), code, resp.status)
        except (aiohttp.ClientError, TimeoutError):
            return SendResult(Sent.RETRY)


def _message_id(answer: bytes) -> str | None:
    """The wamid of an accepted send (`{"messages": [{"id": ...}]}`); None if the
    answer has none: the message went, it just cannot be matched by id later."""
    try:
        message_id = orjson.loads(answer)["messages"][0]["id"]
    except (ValueError, LookupError, TypeError):
        return None
    return message_id if isinstance(message_id, str) and 0 < len(message_id) <= 256 else None


def classify(status: int, code: int | None) -> Sent:
    if status == 429 or status >= 500 or code in THROTTLE_CODES:
        return Sent.RETRY
    if status in (401, 403) and code == 190:
        return Sent.RETRY  # an expired token is ops' to fix; the message must not be lost
    return Sent.PERMANENT
