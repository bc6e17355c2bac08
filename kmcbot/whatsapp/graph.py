"""The Graph API transport: POSTs Cloud API bodies, and tells a retry from a refusal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp

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


class Transport(Protocol):
    async def send(self, to: str, body: bytes) -> SendResult: ...


class GraphTransport:
    """POSTs bodies to `{graph_url}/{phone_number_id}/messages`."""

    def __init__(
        self, http: aiohttp.ClientSession, graph_url: str, phone_number_id: str, token: str
    ) -> None:
        self.http = http
        self.url = f"{graph_url}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.timeout = aiohttp.ClientTimeout(total=15)

    async def send(self, to: str, body: bytes) -> SendResult:
        try:
            async with self.http.post(
                self.url, data=body, headers=self.headers, timeout=self.timeout
            ) as resp:
                if resp.status < 300:
                    return SendResult(Sent.OK, status=resp.status)
                try:
                    code = int((await resp.json(content_type=None))["error"]["code"])
                except Exception:  # noqa: BLE001 - any unreadable error body is "no code"
                    code = None
                return SendResult(classify(resp.status, code), code, resp.status)
        except (aiohttp.ClientError, TimeoutError):
            return SendResult(Sent.RETRY)


def classify(status: int, code: int | None) -> Sent:
    if status == 429 or status >= 500 or code in THROTTLE_CODES:
        return Sent.RETRY
    if status in (401, 403) and code == 190:
        return Sent.RETRY  # an expired token is ops' to fix; the message must not be lost
    return Sent.PERMANENT
