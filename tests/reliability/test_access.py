"""No one let in: signatures, dev endpoints, and a server that will not start
without its secret."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import subprocess
import sys

import orjson
import pytest

from kmcbot.messages import Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp.signature import sign
from tests.support.reliability import (
    PEPPER,
    PREFIX,
    REPO,
    SECRET,
    base_env,
    free_port,
    new_wa_id,
    one,
)


def bad_signatures(raw: bytes) -> dict[str, dict[str, str]]:
    good = sign(SECRET, raw)
    digest = good.removeprefix("sha256=")
    other_body = sign(SECRET, raw + b" ")
    wrong_key = sign(b"not-the-secret", raw)
    sha1 = "sha1=" + hmac.new(SECRET, raw, hashlib.sha1).hexdigest()
    return {
        "missing": {},
        "empty": {"X-Hub-Signature-256": ""},
        "prefix only": {"X-Hub-Signature-256": "sha256="},
        "zeros": {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        "no prefix": {"X-Hub-Signature-256": digest},
        "other algorithm": {"X-Hub-Signature-256": sha1},
        "sha1 header only": {"X-Hub-Signature": sha1},
        "another body's": {"X-Hub-Signature-256": other_body},
        "another key's": {"X-Hub-Signature-256": wrong_key},
        "truncated": {"X-Hub-Signature-256": good[:-1]},
        "too long": {"X-Hub-Signature-256": good + "0"},
        "not hex": {"X-Hub-Signature-256": "sha256=" + "z" * 64},
        "non-ascii": {"X-Hub-Signature-256": "sha256=" + "é" * 64},
        "garbage": {"X-Hub-Signature-256": "garbage"},
    }


async def test_missing_malformed_or_wrong_signatures_are_401_and_change_nothing(
    app_factory, redis, standin
) -> None:
    client = await app_factory()
    wa_id = new_wa_id()
    raw = orjson.dumps(one(wa_id, Text("Hi")))
    for name, headers in bad_signatures(raw).items():
        # Raw latin-1 bytes for the non-ASCII header, as an attacker would send them.
        resp = await client.post(
            "/webhook",
            data=raw,
            headers={k: v.encode().decode("latin-1") for k, v in headers.items()}
            | {"Content-Type": "application/json"},
        )
        assert resp.status == 401, name
        assert "error" in await resp.json(), name
    # The body was never acted on: no session, no dedupe mark, no reply.
    keys = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, wa_id))
    assert [await redis.exists(keys[k]) for k in ("session", "seen", "lock")] == [0, 0, 0]
    await asyncio.sleep(0.3)
    assert standin.by_user[wa_id] == []
    # The same body correctly signed (upper-case hex too) is accepted.
    upper = "sha256=" + sign(SECRET, raw).removeprefix("sha256=").upper()
    resp = await client.post("/webhook", data=raw, headers={"X-Hub-Signature-256": upper})
    assert resp.status == 200


async def test_a_signed_body_cannot_be_replayed_with_a_change(app_factory, standin) -> None:
    client = await app_factory()
    wa_id = new_wa_id()
    raw = orjson.dumps(one(wa_id, Text("Hi")))
    header = {"X-Hub-Signature-256": sign(SECRET, raw)}
    tampered = raw.replace(b"Hi", b"Hj")
    assert (await client.post("/webhook", data=tampered, headers=header)).status == 401
    assert (await client.post("/webhook", data=raw + b"\n", headers=header)).status == 401


async def test_dev_endpoints_exist_only_in_dev_mode(app_factory) -> None:
    prod = await app_factory()
    for path in ("/dev/messages?wa_id=919800000001", "/dev/messages", "/dev/", "/dev/chat"):
        assert (await prod.get(path)).status == 404, path
    # Unsigned webhooks are refused outside dev mode even without an app secret.
    nosecret = await app_factory(app_secret=None)
    raw = orjson.dumps(one(new_wa_id(), Text("Hi")))
    assert (await nosecret.post("/webhook", data=raw)).status == 401
    dev = await app_factory(dev=True, app_secret=None, wa_token=None)
    assert (await dev.get("/dev/messages", params={"wa_id": "919800000001"})).status == 200


def serve_without(
    *missing: str, extra: dict[str, str] | None = None, timeout: float = 30
) -> tuple[subprocess.CompletedProcess[str], int]:
    port = free_port()
    env = {
        **base_env(),
        "KMCBOT_APP_SECRET": SECRET.decode(),
        "KMCBOT_ID_PEPPER": PEPPER.decode(),
        "KMCBOT_STAFF_SECRET": "reliability-staff-secret-of-32-chars",
        "KMCBOT_LOG_FORMAT": "json",
        # Unreachable on purpose: a server that refuses must not even try them.
        "KMCBOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "KMCBOT_REDIS_URL": "redis://127.0.0.1:1/0",
        **(extra or {}),
    }
    for name in missing:
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "kmcbot", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, port


@pytest.mark.parametrize("dev", [None, "0"])
async def test_serve_refuses_to_start_without_the_app_secret(dev: str | None) -> None:
    extra = {} if dev is None else {"KMCBOT_DEV": dev}
    done, _ = await asyncio.to_thread(serve_without, "KMCBOT_APP_SECRET", extra=extra)
    assert done.returncode == 2
    assert "KMCBOT_APP_SECRET is not set" in done.stderr
    assert "KMCBOT_DEV=1" in done.stderr  # and says how to run locally instead


async def test_serve_refuses_to_start_without_the_id_pepper() -> None:
    done, _ = await asyncio.to_thread(serve_without, "KMCBOT_ID_PEPPER")
    assert done.returncode == 2 and "KMCBOT_ID_PEPPER" in done.stderr


async def test_serve_refuses_to_send_to_whatsapp_without_the_sending_numbers_id() -> None:
    """Every reply would go to /dev/messages at graph.facebook.com, be refused as a
    permanent error and be dropped: citizens would hear nothing."""
    extra = {"KMCBOT_WA_TOKEN": "EAAG-real-looking"}
    done, _ = await asyncio.to_thread(serve_without, "KMCBOT_WA_PHONE_NUMBER_ID", extra=extra)
    assert done.returncode == 2 and "KMCBOT_WA_PHONE_NUMBER_ID" in done.stderr
    assert "EAAG" not in done.stderr
