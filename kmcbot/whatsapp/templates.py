"""The approved message templates kmcbot sends, as data (issue 19, item 6).

Outside WhatsApp's 24-hour window only an approved template may be sent
(kmcbot/dialogue/notices.py picks it and its parameters). Their texts, in
English, Bengali and Hindi, are in the catalogues' [template] section, with
{{1}}, {{2}}, ... where notices.py puts its parameters, in its order;
tests/unit/test_templates.py checks each against the parameters the code
sends. `kmcbot templates` prints them as Meta's template API takes them
(`POST /{whatsapp-business-account-id}/message_templates`) and, given a
token and the account id, submits them and reports each one's review status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from kmcbot.dialogue.catalogue import catalogue
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.notices import Templates

PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")


@dataclass(frozen=True, slots=True)
class Spec:
    key: str  # the body's catalogue key
    examples: tuple[str, ...]  # a sample value per parameter: Meta's review asks for them
    button: str | None = None  # the quick-reply button's catalogue key
    buttons: tuple[str, ...] = ()  # or several, in order


# Keyed by the Templates field that holds the approved name (settings.template_*).
SPECS = {
    "booking": Spec(
        "template.booking_update",
        ("KMC-7QH3KD", "confirmed", "Netaji Indoor Stadium", "5 Jun 2021", "10:00-12:00", "4821"),
    ),
    "slot_cancelled": Spec(
        "template.slot_cancelled",
        ("Netaji Indoor Stadium", "5 Jun 2021", "10:00-12:00", "the vaccine did not arrive"),
        button="template.book_again",
    ),
    "reminder": Spec(
        "template.reminder",
        (
            "KMC-7QH3KD",
            "4821",
            "Netaji Indoor Stadium",
            "Strand Road, Kolkata 700001",
            "5 Jun 2021",
            "10:00-12:00",
            "Aadhaar",
        ),
    ),  # fmt: skip
    "on_list": Spec(
        "template.on_list",
        ("Netaji Indoor Stadium", "5 Jun 2021", "10:00-12:00", "KMC-7QH3KD", "Aadhaar"),
    ),
    # A place offered from the waitlist (kmcbot/dialogue/waitlist.py): Book / Not now.
    "waitlist_offer": Spec(
        "template.waitlist_offer",
        ("Netaji Indoor Stadium", "5 Jun 2021", "10:00-12:00", "20:00"),
        buttons=("template.offer_yes", "template.offer_no"),
    ),
}


def placeholders(body: str) -> list[int]:
    """The parameter numbers a body uses, in order of first use."""
    return list(dict.fromkeys(int(n) for n in PLACEHOLDER.findall(body)))


def definitions(names: Templates) -> list[dict[str, Any]]:
    """Every template in every language, as the body of Meta's create-template call."""
    out = []
    for field, spec in SPECS.items():
        for lang in Lang:
            texts = catalogue(lang)
            components: list[dict[str, Any]] = [
                {
                    "type": "BODY",
                    "text": texts[spec.key],
                    "example": {"body_text": [list(spec.examples)]},
                }
            ]
            keys = (spec.button,) if spec.button is not None else spec.buttons
            if keys:
                buttons = [{"type": "QUICK_REPLY", "text": texts[key]} for key in keys]
                components.append({"type": "BUTTONS", "buttons": buttons})
            out.append(
                {
                    "name": getattr(names, field),
                    "language": lang.value,
                    "category": "UTILITY",
                    "components": components,
                }
            )
    return out


async def submit(
    definitions: list[dict[str, Any]], *, graph_url: str, waba_id: str, token: str
) -> list[tuple[str, str, str]]:
    """Submit each definition; (name, language, review status) for each. One that
    exists already is looked up instead, so a second run reports where review is."""
    url = f"{graph_url.rstrip('/')}/{waba_id}/message_templates"
    headers = {"Authorization": f"Bearer {token}"}
    report = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for body in definitions:
            async with http.post(url, json=body, headers=headers) as resp:
                answer = await resp.json(content_type=None)
            status = answer.get("status") if resp.status < 300 else None
            if status is None:
                status = await _looked_up(http, url, headers, body) or _error(answer, resp.status)
            report.append((body["name"], body["language"], str(status)))
    return report


async def _looked_up(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any]
) -> str | None:
    params = {"name": body["name"], "fields": "name,language,status"}
    async with http.get(url, params=params, headers=headers) as resp:
        if resp.status >= 300:
            return None
        found = (await resp.json(content_type=None)).get("data", [])
    for item in found:
        if item.get("name") == body["name"] and item.get("language") == body["language"]:
            return str(item.get("status"))
    return None


def _error(answer: object, status: int) -> str:
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    message = error.get("message", "") if isinstance(error, dict) else ""
    return f"ERROR {status} {message}".strip()
