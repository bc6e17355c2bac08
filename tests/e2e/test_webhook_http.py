"""The webhook's HTTP contract: handshake, signatures, sizes, bad bodies, and a first Hi."""

from __future__ import annotations

import orjson
import structlog

from kmcbot.app import create_app
from kmcbot.messages import Text
from kmcbot.web.keys import REDIS
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.support.e2e import SECRET, text_of


async def test_handshake_returns_the_challenge_verbatim(client) -> None:
    resp = await client.get(
        "/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        },
    )
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert await resp.text() == "1158201444"


async def test_handshake_with_a_wrong_token_is_refused(client) -> None:
    resp = await client.get(
        "/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert resp.status == 403 and "error" in await resp.json()


async def test_missing_or_wrong_signature_is_401(client) -> None:
    raw = orjson.dumps(
        simulate.payload([simulate.message("919800000001", Text("hi"))], phone_number_id="12345")
    )
    for headers in (
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "garbage"},
    ):
        resp = await client.post("/webhook", data=raw, headers=headers)
        assert resp.status == 401
        assert "error" in await resp.json()


async def test_a_body_over_3_mib_is_413(client) -> None:
    raw = b"{" + b" " * (3 * 1024 * 1024 + 10) + b"}"
    resp = await client.post(
        "/webhook", data=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)}
    )
    assert resp.status == 413


async def test_a_body_that_is_not_json_is_400(client) -> None:
    raw = b"not json"
    resp = await client.post(
        "/webhook", data=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)}
    )
    assert resp.status == 400 and "error" in await resp.json()


async def test_a_signed_hi_gets_the_welcome_at_the_graph_api(citizen) -> None:
    replies = await citizen.say("Hi")
    assert len(replies) == 1
    body = replies[0]
    assert body["to"] == citizen.wa_id and body["messaging_product"] == "whatsapp"
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert titles == ["English", "বাংলা", "हिन्दी"]
    assert text_of(body)


async def test_the_same_message_delivered_three_times_is_answered_once(citizen) -> None:
    message = simulate.message(citizen.wa_id, Text("Hi"), msg_id="wamid.dup")
    raw = orjson.dumps(simulate.payload([message], phone_number_id="12345"))
    headers = {"X-Hub-Signature-256": sign(SECRET, raw)}
    for _ in range(3):
        assert (await citizen.client.post("/webhook", data=raw, headers=headers)).status == 200
    await citizen.replies()
    import asyncio

    await asyncio.sleep(0.3)
    assert len(citizen.standin.by_user[citizen.wa_id]) == 1


async def test_statuses_and_other_fields_are_accepted_without_replies(client, standin) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [
                                {
                                    "id": "wamid.x",
                                    "status": "delivered",
                                    "timestamp": "1700000000",
                                    "recipient_id": "919800000001",
                                }
                            ],
                        },
                    },
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                ],
            }
        ],
    }
    raw = orjson.dumps(payload)
    resp = await client.post(
        "/webhook", data=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)}
    )
    assert resp.status == 200
    assert standin.received == []


async def test_one_bad_item_does_not_fail_the_others(client, standin) -> None:
    good = simulate.message("919800000002", Text("Hi"))
    payload = simulate.payload(
        [{"from": None, "id": 5, "type": "text"}, good], phone_number_id="12345"
    )
    raw = orjson.dumps(payload)
    resp = await client.post(
        "/webhook", data=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)}
    )
    assert resp.status == 200
    assert len(await standin.wait_for("919800000002", 1)) == 1


async def test_one_log_line_per_message_without_the_phone_number(citizen) -> None:
    with structlog.testing.capture_logs() as logs:
        await citizen.say("Hi")
    lines = [e for e in logs if e["event"] == "message"]
    assert len(lines) == 1
    assert lines[0]["outcome"] == "ok" and "ms" in lines[0] and lines[0]["user"]
    assert citizen.wa_id not in repr(logs)


async def test_healthz_and_readyz(client) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"ready": True, "postgres": "ok", "redis": "ok", "sender": "ok"}


async def test_dev_pages_are_absent_outside_dev_mode(client) -> None:
    assert (await client.get("/dev/messages", params={"wa_id": "919800000001"})).status == 404


async def test_metrics_count_messages_and_read_the_outbox(citizen) -> None:
    await citizen.say("Hi")
    resp = await citizen.client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    count = next(
        line
        for line in text.splitlines()
        if line.startswith('kmcbot_inbound_messages_total{type="text"}')
    )
    assert float(count.split()[-1]) >= 1
    assert handled_count(text, "ok") >= 1
    twice = citizen.payload(Text("Hi"))
    assert await citizen.post_raw(twice) == 200
    assert await citizen.post_raw(twice) == 200  # delivered again: a duplicate
    text = await (await citizen.client.get("/metrics")).text()
    assert handled_count(text, "duplicate") >= 1
    for name in (
        "kmcbot_webhook_seconds_bucket",
        "kmcbot_outbox_depth ",
        "kmcbot_outbox_oldest_age_seconds ",
        "kmcbot_active_sessions 1",
        "kmcbot_replies_sent_total",
    ):
        assert name in text, name


def handled_count(metrics_text: str, outcome: str) -> float:
    prefix = f'kmcbot_messages_handled_total{{outcome="{outcome}"}}'
    return sum(
        float(line.split()[-1]) for line in metrics_text.splitlines() if line.startswith(prefix)
    )


async def test_an_unknown_path_or_a_wrong_method_is_a_json_error(client) -> None:
    for method, path, status in (
        ("GET", "/nowhere", 404),
        ("POST", "/webhook/extra", 404),
        ("PUT", "/webhook", 405),
        ("DELETE", "/healthz", 405),
        ("POST", "/metrics", 405),
    ):
        resp = await client.request(method, path)
        assert resp.status == status, (method, path)
        assert resp.content_type == "application/json", (method, path)
        assert "error" in await resp.json()
    assert "POST" in (await client.put("/webhook")).headers["Allow"]


async def test_a_server_fault_outside_the_webhook_is_a_json_500(settings, pg, aiohttp_client):
    async def broken(request):
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    with structlog.testing.capture_logs() as logs:
        resp = await client.get("/broken")
    assert resp.status == 500 and await resp.json() == {"error": "internal error"}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["http_error"]


async def test_readyz_names_the_failed_dependency_in_a_json_error(client, monkeypatch) -> None:
    async def refused() -> None:
        raise ConnectionError("refused")

    monkeypatch.setattr(client.app[REDIS], "ping", refused)
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["postgres"] == "ok" and body["redis"] == "ConnectionError"
    assert body["ready"] is False and "redis" in body["error"]


async def test_a_crashed_sender_is_logged_at_once_and_readyz_says_so(
    settings, pg, aiohttp_client, monkeypatch
) -> None:
    from kmcbot.outbox.sender import Sender

    async def crash(self) -> None:
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(Sender, "run", crash)
    with structlog.testing.capture_logs() as logs:
        client = await aiohttp_client(create_app(settings))
        resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["ready"] is False and body["sender"] == "RuntimeError"
    assert "sender" in body["error"]
    crashed = [e for e in logs if e["event"] == "sender_crashed"]
    assert crashed and crashed[0]["log_level"] == "error"
