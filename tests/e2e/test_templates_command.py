"""`kmcbot templates` (issue 19, item 6): prints the templates as Meta's API takes them,
and with --submit sends them to the Graph API (here the stand-in) and reports each
one's review status; a second run reports where review is."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson

from kmcbot.devtools.standin import GraphStandIn


async def kmcbot(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kmcbot", *args,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("KMCBOT_")}, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_templates_are_printed_submitted_and_their_review_reported(aiohttp_server) -> None:
    standin = GraphStandIn(token="templates-token")
    server = await aiohttp_server(standin.app(), host="127.0.0.1")
    env = {
        "KMCBOT_GRAPH_URL": str(server.make_url("")).rstrip("/"),
        "KMCBOT_WA_TOKEN": "templates-token",
        "KMCBOT_WABA_ID": "102290129340398",
    }
    code, out, _ = await kmcbot("templates", env=env)
    printed = orjson.loads(out)
    assert code == 0 and len(printed) == 15  # 5 templates x en, bn, hi

    code, out, err = await kmcbot("templates", "--submit", env=env)
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 15 and all(status == "PENDING" for _, _, status in rows)
    assert sorted(standin.templates) == sorted((d["name"], d["language"]) for d in printed)
    assert standin.templates[("kmcbot_reminder", "bn")]["components"] == [
        c for d in printed if (d["name"], d["language"]) == ("kmcbot_reminder", "bn")
        for c in d["components"]
    ]  # fmt: skip

    standin.templates[("kmcbot_reminder", "hi")]["status"] = "APPROVED"
    standin.templates[("kmcbot_slot_cancelled", "en")]["status"] = "REJECTED"
    code, out, _ = await kmcbot("templates", "--submit", env=env)
    statuses = {(n, lang): s for n, lang, s in (line.split("\t") for line in out.splitlines())}
    assert statuses[("kmcbot_reminder", "hi")] == "APPROVED"
    assert statuses[("kmcbot_slot_cancelled", "en")] == "REJECTED"
    assert statuses[("kmcbot_booking_update", "bn")] == "PENDING"
    assert statuses[("kmcbot_on_list", "hi")] == "PENDING"  # the staff console's notice


async def test_submit_without_a_token_says_what_is_missing() -> None:
    code, _, err = await kmcbot("templates", "--submit", env={"KMCBOT_WABA_ID": "1"})
    assert code == 2 and "KMCBOT_WA_TOKEN" in err
