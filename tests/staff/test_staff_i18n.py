"""The console's pages in English and Bengali: the same keys and placeholders in
both catalogues, every key the templates and code use exists, no text left in
English in the Bengali catalogue by mistake."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kmcbot.dialogue.notices import REASON_CODES
from kmcbot.staff import i18n
from kmcbot.waitlist import store
from tests.support.factories import eventually
from tests.support.ids import aadhaar_from
from tests.support.waitlist import join_effect

STAFF = Path(i18n.__file__).parent
# t("key") in templates and code; "cancel.reason_" ~ code and the like are listed below.
_USED = re.compile(r"""\bt\(\s*(?:request,\s*)?["']([a-z_]+\.[a-z_0-9]+)["']""")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*STAFF.glob("templates/*.html"), *STAFF.glob("*.py")]:
        # A prefix such as "cancel.reason_" ~ code is completed below.
        keys |= {k for k in _USED.findall(path.read_text()) if not k.endswith("_")}
    keys |= {f"cancel.reason_{code}" for code in REASON_CODES}
    keys |= {f"nav.role_{role}" for role in ("clerk", "operator")}
    keys |= {f"day.status_{s}" for s in ("booked", "attended", "missed", "cancelled")}
    return keys


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    en, bn = i18n.catalogue("en"), i18n.catalogue("bn")
    assert en.keys() == bn.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(bn[key]), key


def test_every_key_the_pages_use_exists() -> None:
    used = used_keys()
    assert len(used) > 60  # the pattern finds them
    assert used - i18n.catalogue("en").keys() == set()


# Literal names a translation keeps: file formats, the CSV's column names, a command.
LITERAL = {
    "CSV",
    "UTF",
    "kmcbot",
    "seed",
    "file",
    "code",
    "name",
    "kind",
    "borough",
    "ward",
    "address",
    "latitude",
    "longitude",
    "vaccines",
}


@pytest.mark.parametrize("key", sorted(i18n.catalogue("bn")))
def test_the_bengali_pages_are_in_bengali(key: str) -> None:
    text = i18n.catalogue("bn")[key]
    words = re.sub(r"\{[a-z_]+\}|KMC-[0-9A-Z]+|[·:()/.,\-]", " ", text).split()
    english = [w for w in words if re.fullmatch(r"[A-Za-z]{3,}", w) and w not in LITERAL]
    assert english == [], (key, english)


# ---------------------------------------------------------------- the pages in Bengali

# What may keep Latin digits on a Bengali page: what staff read out or type as it is
# (references, centre codes, the ID's last 4, a check-in code after "কোড"), the
# centres' own names and addresses (data), peer addresses, and the audit's JSON
# details (<code>).
_KEPT = re.compile(
    r"KMC-[0-9A-Z]{6}"
    r"|HC-[A-Z]"
    r"|Ward \d+ Health Centre|5 Chowringhee Place"
    r"|…\d{4}|XXXX XXXX \d{4}"
    r"|কোড:? \d{4}"
    r"|\d+\.\d+\.\d+\.\d+"
    r"|UTF-8"
)
_BENGALI_DIGIT = re.compile("[০-৯]")


class _Text(HTMLParser):
    """The text a reader sees: no tags, attributes, scripts or <code> details."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "code", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def latin_digits(page: str) -> list[str]:
    """Each stretch of the page's visible text that shows a Latin digit it should not."""
    reader = _Text()
    reader.feed(page)
    text = _KEPT.sub(" ", " ".join(reader.parts))
    return [m.group(0) for m in re.finditer(r".{0,25}[0-9].{0,25}", text)]


def test_the_checker_catches_latin_digits() -> None:
    assert latin_digits("<p>Covishield ১০:০০ KMC-4K7P2Q …1234</p>") == []
    assert latin_digits('<p title="10:00">১০টা</p><code>{"n": 3}</code>') == []
    assert latin_digits("<h3>14:44-এ</h3>") == ["14:44-এ"]
    assert latin_digits("<td>২০২৬-12-06</td>") == ["২০২৬-12-06"]


@pytest.mark.usefixtures("served")
async def test_every_page_in_bengali_shows_bengali_digits_and_names(browsers, pg, city) -> None:
    """Each console page in Bengali, against data that fills every number, date and
    time on it: no Latin digit outside references, codes and the ID's last 4, and
    the vaccines by their Bengali names."""
    clerk, operator = browsers(), browsers()
    await clerk.login("clerk.a")
    await operator.login("op")
    for b in (clerk, operator):
        assert (await b.post("/staff/lang", {"lang": "bn", "next": "/staff/"}))[0] == 200
    ref = city.refs_today_a[0]
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref)
    status, checked = await clerk.post("/staff/c/HC-A/checkin", {"reference": ref, "code": code})
    assert status == 200
    await clerk.post("/staff/c/HC-A/confirm", {"day": "tomorrow"})
    await clerk.post("/staff/c/HC-A/supply", {"day": "tomorrow", "doses_covishield": "3"})
    await clerk.post(
        "/staff/c/HC-A/cancel", {"slot": str(city.tomorrow_a2), "reason": "supply_not_arrived"}
    )
    pages: dict[str, str] = {"checked in": checked}
    for name, b, path in [
        ("today", clerk, "/staff/c/HC-A/"),
        ("tomorrow", clerk, "/staff/c/HC-A/?day=tomorrow"),
        ("walk-in", clerk, "/staff/c/HC-A/walkin"),
        ("scan", clerk, "/staff/c/HC-A/scan"),
        ("another centre", clerk, "/staff/c/HC-B/"),
        ("dashboard", operator, "/staff/dashboard"),
        ("centres", operator, "/staff/centres"),
        ("accounts", operator, "/staff/accounts"),
        ("audit", operator, "/staff/audit"),
        ("a centre, by an operator", operator, "/staff/c/HC-A/?day=tomorrow"),
        ("printed roster", clerk, "/staff/c/HC-A/print"),
        ("printed roster, tomorrow", clerk, "/staff/c/HC-A/print?day=tomorrow"),
    ]:
        status, page = await b.get(path)
        assert status in (200, 403), (name, status)
        pages[name] = page
    key = re.search(r'name="key" value="([^"]+)"', pages["walk-in"]).group(1)
    status, pages["walked in"] = await clerk.post(
        "/staff/c/HC-A/walkin",
        {
            "key": key,
            "slot": str(city.tomorrow_a),
            "name": "Kabir Hossain",
            "id_type": "aadhaar",
            "id_number": aadhaar_from(),
            "first_dose": "2021-04-05",
            "lang": "bn",
        },
    )
    assert status == 200, pages["walked in"]
    # The waitlist: entries in the queue, offers held (told, or not yet) and one
    # declined, so every position, count, date and time on the page is filled.
    for n in range(1, 4):
        await store.join(pg, f"9198000{n:05d}", join_effect(300 + n))
    await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))
    await eventually(lambda: pg.fetchval("SELECT count(*) >= 3 FROM offers"), timeout=10)
    offer = await pg.fetchval("SELECT id FROM offers WHERE wa_id = '919800000001'")
    await store.decline(pg, "919800000001", offer)
    await pg.execute("UPDATE offers SET queued_at = now() WHERE status = 'held'")
    status, pages["waitlist"] = await operator.get("/staff/waitlist")
    assert status == 200
    entry = await pg.fetchval("SELECT entry_id FROM offers WHERE id = $1", offer)
    status, pages["an entry's offers"] = await operator.get(f"/staff/waitlist?entry={entry}")
    assert status == 200
    stranger = browsers()
    await stranger.get("/staff/login")
    await stranger.post("/staff/lang", {"lang": "bn", "next": "/staff/login"})
    status, pages["login"] = await stranger.get("/staff/login")
    for name, page in pages.items():
        assert '<html lang="bn">' in page, name
        assert latin_digits(page) == [], (name, latin_digits(page))
    assert "কোভিশিল্ড" in pages["today"] and "Covishield" not in pages["today"]
    assert "কোভিশিল্ড" in pages["waitlist"] and "ovishield" not in pages["waitlist"]
    assert "আধার" in pages["walk-in"] and "রবিবার" in pages["centres"]
    for name in ("today", "tomorrow", "dashboard", "audit", "walked in", "waitlist"):
        assert _BENGALI_DIGIT.search(pages[name]), name  # the numbers are there, in Bengali
