"""Finding 8 of issue 18: log floods and what the server tells about itself.

A real `kmcbot serve` process, raw sockets:
- a signed payload of 220,000 ignored changes is one log line;
- malformed HTTP (Content-Length beside Transfer-Encoding, a 9 KB header, a
  garbled request line) is answered with JSON 400 and logged in one line,
  without a traceback;
- no `Server` header names aiohttp's or Python's version.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from kmcbot.messages import Text
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.support.reliability import PHONE_ID, SECRET, Bots, new_wa_id


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # the server closes after its answer
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


MALFORMED = {
    "Content-Length with Transfer-Encoding": (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "9 KB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    "garbled request line": b"GET /\x01\x02 HTTP/9\r\n\r\n",
    "bad chunk size": (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ),
}


def new_lines(bot, before: int) -> list[dict]:
    return bot.logs()[before:]


async def settle(bot, before: int, want: int, timeout: float = 5) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = new_lines(bot, before)
        if len(lines) >= want:
            await asyncio.sleep(0.3)  # and nothing more comes
            return new_lines(bot, before)
        await asyncio.sleep(0.05)
    return new_lines(bot, before)


async def test_malformed_http_is_json_400_in_one_log_line(bots: Bots) -> None:
    [bot] = await bots.spawn(1)
    for name, request in MALFORMED.items():
        before = len(bot.logs())
        status, headers, body = await raw_exchange(bot.port, request)
        assert status == 400, name
        assert headers["content-type"].startswith("application/json"), (name, headers)
        assert "error" in orjson.loads(body), name
        lines = await settle(bot, before, 1)
        assert len(lines) == 1, (name, lines)
        assert lines[0]["event"] in ("http_malformed", "webhook_client_disconnected"), lines
        assert "exception" not in lines[0] and "Traceback" not in str(lines[0]), lines


async def test_no_server_header_names_a_version(bots: Bots) -> None:
    [bot] = await bots.spawn(1, KMCBOT_ADMIN_TOKEN="t")
    requests = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"DELETE /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /admin/centres HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        MALFORMED["9 KB header"],
    ]
    for request in requests:
        status, headers, _ = await raw_exchange(bot.port, request)
        assert headers.get("server") == "kmcbot", (request[:30], status, headers)


async def test_a_payload_of_220000_ignored_changes_is_one_log_line(bots: Bots, hook) -> None:
    [bot] = await bots.spawn(1)
    wa_id = new_wa_id()
    payload = simulate.payload([simulate.message(wa_id, Text("Hi"))], phone_number_id=PHONE_ID)
    payload["entry"][0]["changes"] += [{"field": "a"}] * 220_000
    raw = orjson.dumps(payload)
    assert len(raw) < 3 * 1024 * 1024
    before = len(bot.logs())
    started = time.monotonic()
    assert await hook.post_raw(bot.url, raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)})
    seconds = time.monotonic() - started
    lines = await settle(bot, before, 2)
    ignored = [e for e in lines if e.get("event") == "webhook_fields_ignored"]
    size = sum(len(orjson.dumps(e)) for e in lines)
    print(f"\n220,000 ignored changes: {len(lines)} log lines, {size} bytes, {seconds:.2f} s")
    assert [e["count"] for e in ignored] == [220_000]
    assert len(lines) <= 3, lines  # that line, the message's, at most a status
