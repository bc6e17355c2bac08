"""Bad input never hurts: the real app, through real HTTP (aiohttp_client),
fed malformed, truncated, wrongly typed, deeply nested, huge and hostile
webhook bodies and headers, all signed correctly so that they reach the
parser and the pipeline.

- zero 5xx, zero unhandled exceptions (structlog events at error level and
  stdlib log records at ERROR, e.g. aiohttp's "Error handling request");
- in a partly bad batch every valid message is still handled;
- over-long texts, control characters, RTL marks and emoji at every
  free-text question (first-dose date, ID number, name) get a clear answer:
  exactly one reply, never silence, never 5xx, never the full ID number.

The fast fuzz posts 10,000 bodies: 1,000 hypothesis examples, each a
generated request and 9 cheap variants of it (cut, spliced, corrupted,
re-typed), sent concurrently; `-m slow` runs a longer one (40,000).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kmcbot.booking.ids import IdType, id_hash, last4
from kmcbot.booking.model import IST, Vaccine
from kmcbot.booking.repository import load_availability
from kmcbot.dialogue.core import Context
from kmcbot.dialogue.model import Draft, Lang, Session, State, session_to_dict
from kmcbot.dialogue.questions import render
from kmcbot.storage.keys import message_key, user_tag
from kmcbot.storage.sessions import SESSION_TTL_S, SessionStore
from kmcbot.whatsapp.signature import sign
from tests.support.factories import make_centre, make_slot
from tests.support.ids import aadhaar
from tests.support.reliability import PEPPER, PREFIX, SECRET, new_wa_id

HEALTH = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]

# ------------------------------------------------------------- strategies

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "\x00\x01\x02\x1b[31mred\x7f",
    "\u202e1202-50-21\u202c",
    "\u200f\u200e",
    "💉" * 50,
    "\ufeff",
    "\ud7ff\ue000\uffff",
    "{name}{0}%s%n{{",
    "'; DROP TABLE bookings; --",
    "<script>alert(1)</script>",
    "Z̷̛̠a̸͎l̷g̵o̶",
    "١٢٣٤",
    "১২-০৫-২০২১",
    "\n\r\t",
    "a" * 5000,
    "9" * 300,
    "null",
    "true",
    "[]",
    "{}",
    "NaN",
    "-0",
    "1e999",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
WA_IDS = [f"9195{n:08d}" for n in range(300)]  # a pool: sessions build up across examples

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                hostile_text,
                st.sampled_from(
                    [
                        "from",
                        "id",
                        "type",
                        "text",
                        "body",
                        "timestamp",
                        "interactive",
                        "entry",
                        "changes",
                        "value",
                        "messages",
                        "statuses",
                        "errors",
                        "field",
                    ]
                ),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@st.composite
def message(draw: st.DrawFn, wa_id: str | None = None) -> dict[str, Any]:
    """A well-formed Cloud API message of any kind, with hostile contents."""
    wa_id = wa_id or draw(st.sampled_from(WA_IDS))
    now = int(datetime.now(UTC).timestamp())
    base = {
        "from": wa_id,
        "id": f"wamid.FZ{secrets.token_hex(8)}",
        "timestamp": str(draw(st.sampled_from([now, now, now - 7200, now + 3600, 0]))),
    }
    kind = draw(
        st.sampled_from(
            [
                "text",
                "button",
                "list",
                "template",
                "location",
                "image",
                "sticker",
                "reaction",
                "contacts",
                "unsupported",
                "order",
                "interactive_nfm",
            ]
        )
    )
    option = draw(
        st.one_of(
            st.sampled_from(
                [
                    "lang:en",
                    "lang:bn",
                    "menu:book",
                    "menu:bookings",
                    "vaccine:covishield",
                    "id:aadhaar",
                    "centre:1",
                    "centre:more",
                    "day:2021-02-31",
                    "slot:999999999999",
                    "confirm:yes",
                    "forget:yes",
                    "cancel:KMC-XXXXXX",
                    "move:KMC-XXXXXX",
                    "menu:main",
                ]
            ),
            hostile_text.filter(bool),
        )
    )
    match kind:
        case "text":
            return {**base, "type": "text", "text": {"body": draw(hostile_text)}}
        case "button" | "list":
            reply = "button_reply" if kind == "button" else "list_reply"
            return {
                **base,
                "type": "interactive",
                "interactive": {"type": reply, reply: {"id": option, "title": draw(hostile_text)}},
            }
        case "template":
            return {**base, "type": "button", "button": {"payload": option, "text": "x"}}
        case "location":
            return {
                **base,
                "type": "location",
                "location": {
                    "latitude": draw(st.floats(-100, 100)),
                    "longitude": draw(st.floats(-200, 200)),
                },
            }
        case "interactive_nfm":
            return {
                **base,
                "type": "interactive",
                "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}},
            }
        case _:
            return {**base, "type": kind, kind: {"id": "media-1", "emoji": "👍"}}


def envelope(messages: list[Any], **extra: Any) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "910000000000", "phone_number_id": "12345"},
        "messages": messages,
        **extra,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid payload with 1-3 things broken: a value of the wrong type, a key
    gone, a list where an object was, a deep nest, a status or error item."""
    payload = envelope(
        draw(st.lists(message(), min_size=1, max_size=3)),
        statuses=[
            {
                "id": "wamid.S",
                "status": draw(hostile_text),
                "recipient_id": draw(st.sampled_from(WA_IDS)),
                "errors": [{"code": draw(json_leaf)}],
            }
        ],
        errors=[{"code": draw(json_leaf), "title": draw(hostile_text)}],
    )
    nests: list[int] = []
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "listify", "nest", "stringify"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_value)
        elif action == "listify":
            parent[key] = [parent[key], parent[key]]
        elif action == "nest":
            # Spliced in as text after dumping (orjson.dumps stops at ~254 levels);
            # past ~1020 levels the whole body is a 400, below it the item is parsed.
            depth = draw(st.integers(1, 1100))
            nests.append(depth)
            parent[key] = f"@@NEST{len(nests) - 1}@@"
        else:
            parent[key] = orjson.dumps(parent[key]).decode()
    raw = orjson.dumps(payload)
    for i, depth in enumerate(nests):
        raw = raw.replace(f'"@@NEST{i}@@"'.encode(), b"[" * depth + b"0" + b"]" * depth)
    return raw


@st.composite
def raw_garbage(draw: st.DrawFn) -> bytes:
    valid = orjson.dumps(envelope([draw(message())]))
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return valid[: draw(st.integers(0, len(valid) - 1))]  # truncated
    if choice == 1:
        return draw(st.binary(max_size=300))
    if choice == 2:
        depth = draw(st.integers(1000, 60_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (opener * depth + closer * depth).encode()
    if choice == 3:
        return draw(
            st.sampled_from(
                [
                    b"NaN",
                    b"Infinity",
                    b"-0",
                    b"1e99999",
                    b"123456789012345678901234567890",
                    b'{"entry": [1,2,]}',
                    b"{'entry': []}",
                    b'{"entry": [] // comment}',
                    b"\xef\xbb\xbf{}",
                    b'{"entry": "\\ud800"}',
                    b'{"a": "\\u0000"}',
                    b"{}" * 100,
                    b"   ",
                    b"\x00" * 64,
                    b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": '
                    b'[{"from": "919800000001", "id": "wamid.x", '
                    b'"timestamp": "99999999999999999999",'
                    b' "type": "text", "text": {"body": "hi"}}]}}]}]}',
                    b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": '
                    b'[{"from": "919800000001", "id": "wamid.x", "timestamp": 1e308,'
                    b' "type": "text", "text": {"body": "hi"}}]}}]}]}',
                    b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": '
                    b'[{"from": "919800000001", "id": "wamid.y", "timestamp": "1700000000",'
                    b' "type": "location", "location": '
                    b'{"latitude": 1e400, "longitude": -1e400}}]}}]}]}',
                    b'{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":'
                    b'"919800000001","id":"wamid.z","timestamp":"1700000000","type":"text","text":{"body":'
                    b'"\\ud83d"}}]}}]}]}',
                ]
            )
        )
    if choice == 4:
        # The same key many times (last one wins in most parsers).
        return b'{"entry": [], "entry": [], "entry": ' + valid[valid.index(b"[") :]
    return draw(mutated())


CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/json; charset=utf-8; charset=x",
]


@st.composite
def request(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    body = draw(st.one_of(raw_garbage(), mutated(), mutated().map(lambda b: b)))
    headers = {
        "X-Hub-Signature-256": sign(SECRET, body),
        "Content-Type": draw(st.sampled_from(CONTENT_TYPES)),
    }
    extra = draw(st.integers(0, 12))
    if extra == 0:
        # (false gzip/deflate claims: see test_a_false_content_encoding_is_a_4xx_not_a_500)
        headers["Content-Encoding"] = "identity"
    elif extra == 1:
        headers["X-Hub-Signature-256"] = (
            headers["X-Hub-Signature-256"].upper().replace("SHA256=", "sha256=")
        )
    elif extra == 2:
        headers["Accept"] = "\u00ff" * 10
    elif extra == 3:
        headers["X-Forwarded-For"] = "1.2.3.4, " * 200
    return body, headers


_SPLICES = [
    b"",
    b"\x00",
    b"\xff\xfe",
    b'"',
    b"\\",
    b"{",
    b"]",
    b"\xe2\x80\xae",
    b"\\ud800",
    "💉".encode(),
    b"null",
    b"1e999",
    b"-",
    b",",
    b'"entry":',
    b"\n" * 3,
]


def derived(body: bytes, rnd: random.Random, n: int) -> list[bytes]:
    """`n` cheap variants of a generated body: cut, spliced, corrupted, repeated,
    re-typed. Hypothesis drives the seed (so failures still shrink and replay);
    the variants keep the fuzz at 10,000 bodies within the time budget."""
    out = []
    for _ in range(n):
        kind = rnd.randrange(6)
        if kind == 0 and body:
            out.append(body[: rnd.randrange(len(body))])
        elif kind == 1:
            at = rnd.randrange(len(body) + 1)
            out.append(body[:at] + rnd.choice(_SPLICES) + body[at:])
        elif kind == 2 and body:
            corrupt = bytearray(body)
            for _ in range(rnd.randint(1, 4)):
                corrupt[rnd.randrange(len(corrupt))] = rnd.randrange(256)
            out.append(bytes(corrupt))
        elif kind == 3:
            out.append(b"[" + b",".join([body] * rnd.randint(1, 3)) + b"]")
        elif kind == 4:
            try:
                out.append(orjson.dumps(_retype(orjson.loads(body), rnd)))
            except (orjson.JSONDecodeError, TypeError):  # not JSON, or too deep to re-dump
                out.append(body[::-1])
        else:
            out.append(body.replace(b'"', b"'", rnd.randint(1, 3)))
    return out


def _retype(value: Any, rnd: random.Random, depth: int = 0) -> Any:
    """The same structure with some scalars turned into other types."""
    if depth > 40:
        return value
    if isinstance(value, dict):
        return {k: _retype(v, rnd, depth + 1) for k, v in value.items() if rnd.random() > 0.05}
    if isinstance(value, list):
        return [_retype(v, rnd, depth + 1) for v in value]
    if rnd.random() < 0.15:
        return rnd.choice(
            [
                None,
                True,
                0,
                -1,
                2**63 - 1,
                1.5e308,
                "",
                "x" * 300,
                [],
                {},
                [value],
                {"value": value},
                str(value),
            ]
        )
    return value


# ----------------------------------------------------------------- checks


class Watch:
    """Every structlog event and stdlib log record of the test, and the HTTP statuses."""

    def __init__(self, logs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self.logs = logs
        self.caplog = caplog
        self.statuses: dict[int, int] = {}
        self.bodies = 0
        self.delivered_again = 0  # bodies answered 503 and posted again
        self._checked = 0  # events already looked at (the fuzz checks after every example)
        self.found: list[Any] = []

    def errors(self) -> list[Any]:
        fresh = self.logs[self._checked :]
        self._checked = len(self.logs)
        self.found += [e for e in fresh if _is_fault(e)]
        records = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        return self.found + [f"{r.name}: {r.getMessage()}" for r in records]


def _is_fault(event: dict[str, Any]) -> bool:
    """An error line, or a 503 for any reason but the same message in hand elsewhere."""
    if event.get("outcome") == "retry_later":
        return event.get("reason") != "busy"
    return event.get("log_level") in ("error", "critical")


# The fuzz tests must really post this many bodies (hypothesis could stop early).
MIN_BODIES = {
    "test_fuzzed_webhooks_never_get_5xx_nor_an_unhandled_error": 10_000,
    "test_fuzzed_webhooks_long_run": 40_000,
}


@pytest.fixture
async def watch(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest):
    caplog.set_level(logging.WARNING)
    started = time.perf_counter()
    with structlog.testing.capture_logs() as logs:
        seen = Watch(logs, caplog)
        yield seen
    name = request.node.name
    if name in MIN_BODIES:
        print(
            f"\n[fuzz] {name}: {seen.bodies} bodies in {time.perf_counter() - started:.1f} s, "
            f"statuses {dict(sorted(seen.statuses.items()))}, "
            f"{seen.delivered_again} answered 503 (same id at once) and delivered again"
        )
        assert seen.bodies >= MIN_BODIES[name]


@pytest.fixture
async def fuzz_client(pg, app_factory):
    centre = await make_centre(pg)
    await make_slot(pg, centre, capacity=1000)
    return await app_factory()


async def post_all(client: Any, watch: Watch, requests: list[tuple[bytes, dict[str, str]]]) -> None:
    async def post(body: bytes, headers: dict[str, str]) -> int:
        async with client.post("/webhook", data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    statuses = await asyncio.gather(*(post(b, h) for b, h in requests))
    # Bodies of a batch can share a message id the variants did not rewrite (a mutated
    # id, or one retyped to ""): the same message twice at once is answered 503 on
    # purpose, and WhatsApp delivers it again. That next delivery must be answered.
    watch.delivered_again += statuses.count(503)
    statuses = [
        await post(body, headers) if status == 503 else status
        for status, (body, headers) in zip(statuses, requests, strict=True)
    ]
    for s in statuses:
        watch.statuses[s] = watch.statuses.get(s, 0) + 1
    watch.bodies += len(statuses)
    errors = watch.errors()
    # On failure, say which body got which answer and what the app logged.
    failed = [(s, body[:300]) for s, (body, _) in zip(statuses, requests, strict=True) if s >= 500]
    assert failed == [] and errors == [], (failed, errors[-5:])


def fuzz(max_examples: int):
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=HEALTH,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=True,
    )


def batch_of(
    generated: tuple[bytes, dict[str, str]], rnd: random.Random
) -> list[tuple[bytes, dict[str, str]]]:
    body, headers = generated
    # Each variant's message ids made its own: the same message delivered twice *at the
    # same time* is answered 503 on purpose (busy elsewhere: deliver again), which is
    # WhatsApp's redelivery protocol, not bad input (test_concurrency covers it).
    variants = [
        v.replace(b'"wamid.', f'"wamid.V{i}'.encode())
        for i, v in enumerate(derived(body, rnd, VARIANTS))
    ]
    variants = [(v, {**headers, "X-Hub-Signature-256": sign(SECRET, v)}) for v in variants]
    return [(body, headers), *variants]


VARIANTS = 9  # each example posts its generated body and 9 variants: 10 bodies


@fuzz(1000)
@given(generated=request(), rnd=st.randoms(use_true_random=False))
async def test_fuzzed_webhooks_never_get_5xx_nor_an_unhandled_error(
    fuzz_client, watch, generated, rnd
) -> None:
    await post_all(fuzz_client, watch, batch_of(generated, rnd))


@pytest.mark.slow
@fuzz(4000)
@given(generated=request(), rnd=st.randoms(use_true_random=False))
async def test_fuzzed_webhooks_long_run(fuzz_client, watch, generated, rnd) -> None:
    await post_all(fuzz_client, watch, batch_of(generated, rnd))


async def test_huge_and_deep_bodies_within_3_mib(fuzz_client, watch, redis) -> None:
    now = str(int(datetime.now(UTC).timestamp()))
    big_text = {
        "from": "919599999001",
        "id": "wamid.BIG1",
        "timestamp": now,
        "type": "text",
        "text": {"body": "আ" * 900_000},
    }  # ~2.6 MiB of UTF-8
    # 1000 messages (WhatsApp's most) from 40 citizens; from 1000 citizens: the next test.
    thousand = [
        {
            "from": f"91958{n % 40:07d}",
            "id": f"wamid.K{n}",
            "timestamp": now,
            "type": "text",
            "text": {"body": "Hi"},
        }
        for n in range(1000)
    ]
    overflow = [
        {
            "from": "919599999002",
            "id": f"wamid.O{n}",
            "timestamp": now,
            "type": "reaction",
            "reaction": {"emoji": "👍"},
        }
        for n in range(5000)
    ]
    deep = orjson.dumps(
        {
            "from": "919599999003",
            "id": "wamid.DEEP",
            "timestamp": now,
            "type": "text",
            "text": {"body": "x"},
        }
    ).decode()
    # 1000 levels is past orjson's own limit (1024 with the envelope): a 400, never a 500;
    # 900 levels parse, and the item is used or refused on its own.
    too_deep = '{"x":' * 1000 + deep + "}" * 1000
    deep_ok = deep[:-1] + ', "context": ' + "[" * 900 + "]" * 900 + "}"
    bodies = [
        orjson.dumps(envelope([big_text])),
        orjson.dumps(envelope(thousand)),
        orjson.dumps(envelope(overflow)),
        orjson.dumps(envelope(["@"])).replace(b'"@"', too_deep.encode()),
        orjson.dumps(envelope(["@"])).replace(b'"@"', deep_ok.encode()),
        b"[" * 1_000_000 + b"]" * 1_000_000,
        b" " * (3 * 1024 * 1024 - 10) + b"{}",
        orjson.dumps({"entry": [{"changes": [{"field": "x" * 1_000_000}]}]}),
        orjson.dumps(
            envelope(
                [
                    {
                        "from": "9" * 2_000_000,
                        "id": "i",
                        "timestamp": now,
                        "type": "text",
                        "text": {"body": "hi"},
                    }
                ]
            )
        ),
    ]
    for body in bodies:  # one at a time: each is big enough alone
        await post_all(fuzz_client, watch, [(body, {"X-Hub-Signature-256": sign(SECRET, body)})])
    # All 1000 messages of the big batch were handled (most past the rate limit).
    store = SessionStore(redis, PREFIX)
    for n in range(0, 1000, 37):
        tag = user_tag(PEPPER, f"91958{n % 40:07d}")
        assert await redis.zscore(store.keys(tag)["seen"], message_key(f"wamid.K{n}"))


async def test_a_full_payload_of_1000_citizens_is_handled_without_errors(
    fuzz_client, watch, redis
) -> None:
    """The most WhatsApp puts in one payload, from as many citizens: all handled
    (64 at a time), no error. (Found failing with MaxConnectionsError -> 503 and
    'sender_error'; fixed by the blocking Redis pool of e83f5d4.)"""
    now = str(int(datetime.now(UTC).timestamp()))
    thousand = [
        {
            "from": f"91957{n:07d}",
            "id": f"wamid.T{n}",
            "timestamp": now,
            "type": "text",
            "text": {"body": "Hi"},
        }
        for n in range(1000)
    ]
    body = orjson.dumps(envelope(thousand))
    await post_all(fuzz_client, watch, [(body, {"X-Hub-Signature-256": sign(SECRET, body)})])
    await asyncio.sleep(1)  # the sender drains the 1000 replies meanwhile
    assert watch.errors() == []


async def test_one_message_posted_ten_times_at_once_is_handled_once_and_no_error(
    fuzz_client, watch, redis
) -> None:
    """What a mutated body's ids do in the fuzz batches (CI of fc80a01 failed on it):
    copies in hand elsewhere get 503 and a warning, not an error line, and the
    delivery again is answered."""
    message = {
        "from": "919599999010",
        "id": "not-a-wamid",
        "type": "text",
        "timestamp": str(int(time.time())),
        "text": {"body": "Hi"},
    }
    body = orjson.dumps(envelope([message]))
    signed = (body, {"X-Hub-Signature-256": sign(SECRET, body)})
    await post_all(fuzz_client, watch, [signed] * 10)
    assert watch.delivered_again > 0  # the race really happened
    assert watch.statuses == {200: 10}
    seen = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, message["from"]))["seen"]
    assert await redis.zscore(seen, message_key(message["id"]))


async def test_a_false_content_encoding_is_a_4xx_not_a_500(fuzz_client, watch) -> None:
    raw = orjson.dumps(
        envelope(
            [
                {
                    "from": "919599999009",
                    "id": "wamid.CE",
                    "type": "text",
                    "timestamp": str(int(time.time())),
                    "text": {"body": "Hi"},
                }
            ]
        )
    )
    requests = []
    for encoding in ("gzip", "deflate"):
        requests.append(
            (raw, {"Content-Encoding": encoding, "X-Hub-Signature-256": sign(SECRET, raw)})
        )
        requests.append((raw, {"Content-Encoding": encoding}))  # unsigned: anyone
    await post_all(fuzz_client, watch, requests)


@fuzz(100)
@given(data=st.data())
async def test_in_a_partly_bad_batch_every_valid_message_is_handled(
    fuzz_client, watch, redis, data
) -> None:
    now = str(int(datetime.now(UTC).timestamp()))
    valid = [
        {
            "from": new_wa_id(),
            "id": f"wamid.OK{secrets.token_hex(8)}",
            "timestamp": now,
            "type": "text",
            "text": {"body": data.draw(st.sampled_from(["Hi", "menu", "help", "হ্যালো"]))},
        }
        for _ in range(data.draw(st.integers(1, 6)))
    ]
    bad_items = data.draw(st.lists(st.one_of(json_value, message().map(_break)), max_size=6))
    items: list[Any] = [*valid, *bad_items]
    order = data.draw(st.permutations(range(len(items))))
    payload = envelope(
        [items[i] for i in order],
        statuses=data.draw(st.one_of(st.none(), json_value)),
        errors=[data.draw(json_value)],
    )
    payload["entry"] += data.draw(st.lists(json_value, max_size=2))
    payload["entry"][0]["changes"] += data.draw(st.lists(json_value, max_size=2))
    raw = orjson.dumps(payload)
    await post_all(fuzz_client, watch, [(raw, {"X-Hub-Signature-256": sign(SECRET, raw)})])
    assert watch.statuses.get(200)
    store = SessionStore(redis, PREFIX)
    for m in valid:
        seen = store.keys(user_tag(PEPPER, m["from"]))["seen"]
        assert await redis.zscore(seen, message_key(m["id"])) is not None, m


def _break(m: dict[str, Any]) -> dict[str, Any]:
    """A message item that cannot be valid: no sender."""
    m = dict(m)
    m["from"] = None
    return m


# ---------------------------------------------------- free-text questions

FREE_TEXT = [
    "x" * 4096,  # the longest text WhatsApp sends
    "1" * 200_000,  # longer than WhatsApp allows
    "\x00\x01\x02\x03\x1b[2J\x7f",  # control characters
    "12-05-2021\x00",  # a good answer with a NUL after it
    "\u202e1202-50-21\u202c",  # right-to-left override
    "\u200f12-05-2021\u200e",  # RTL/LTR marks around a good answer
    "💉💉💉",  # emoji only
    "12/05/2021 🙏",  # a good answer with emoji
    "🙂" * 3000,
    "\u200b\u200c\u200d\ufeff",  # invisible characters only
    "{name} {0} %s {{}}",  # format strings
    "Z̷̛̠a̸͎l̷g̵o̶",  # combining marks
    "محمد علي",  # an RTL script
    "   \n\t  ",  # whitespace only
    "<script>alert(1)</script>",
]


async def seed_at(redis, pool, wa_id: str, state: State, number: str) -> None:
    """THE SHORTCUT (see conftest.seed_confirm_session): the citizen straight at a
    free-text question, the session built with kmcbot.dialogue.model."""
    now = datetime.now(UTC)
    draft = Draft(vaccine=Vaccine.COVISHIELD)
    if state in (State.ID_NUMBER, State.NAME):
        draft = Draft(
            vaccine=Vaccine.COVISHIELD,
            first_dose=datetime.now(IST).date() - timedelta(days=100),
            id_type=IdType.AADHAAR,
        )
    if state is State.NAME:
        draft = Draft(
            vaccine=draft.vaccine,
            first_dose=draft.first_dose,
            id_type=IdType.AADHAAR,
            id_hash=id_hash(PEPPER, IdType.AADHAAR, number),
            id_last4=last4(number),
        )
    ctx = Context(
        now=now,
        availability=await load_availability(pool, now),
        pepper=PEPPER,
        profile_lang=Lang.EN,
    )
    _, session = render(Session(state, Lang.EN, now, draft), ctx)
    assert session.state is state
    keys = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, wa_id))
    await redis.set(
        keys["session"], "1:" + orjson.dumps(session_to_dict(session)).decode(), ex=SESSION_TTL_S
    )
    await redis.set(keys["profile"], orjson.dumps({"lang": "en", "open": 1}))


def reply_text(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    return body["interactive"]["body"]["text"]


async def test_hostile_free_text_at_every_free_text_question_gets_a_clear_answer(
    pg, redis, app_factory, standin, watch
) -> None:
    centre = await make_centre(pg)
    await make_slot(pg, centre, capacity=10)
    client = await app_factory()
    number = aadhaar(777)
    cases = []
    for state in (State.DOSE_DATE, State.ID_NUMBER, State.NAME):
        texts = FREE_TEXT + (
            [f"\u202e{number}\u202c", f"💳 {number} ✅", f"{number}\x00"]
            if state is State.ID_NUMBER
            else []
        )
        for t in texts:
            wa_id = new_wa_id()
            await seed_at(redis, pg, wa_id, state, number)
            cases.append((state, t, wa_id))

    async def send(state: State, t: str, wa_id: str) -> int:
        raw = orjson.dumps(
            envelope(
                [
                    {
                        "from": wa_id,
                        "id": f"wamid.FT{secrets.token_hex(8)}",
                        "type": "text",
                        "timestamp": str(int(datetime.now(UTC).timestamp())),
                        "text": {"body": t},
                    }
                ]
            )
        )
        resp = await client.post(
            "/webhook", data=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)}
        )
        return resp.status

    statuses = await asyncio.gather(*(send(*c) for c in cases))
    assert statuses == [200] * len(cases)
    for state, t, wa_id in cases:
        (reply,) = await standin.wait_for(wa_id, 1, timeout=10)
        shown = reply_text(reply)
        assert shown.strip(), (state, t)
        assert len(shown) <= (4096 if reply["type"] == "text" else 1024)
        assert number not in shown and number[:8] not in shown
    await asyncio.sleep(0.3)
    assert all(len(standin.by_user[w]) == 1 for _, _, w in cases)  # one answer each
    assert watch.errors() == []
