"""The centre roster as CSV and as a printable HTML page. Pure: rows in, text out.

Rows come from `admin_repo.roster`: one per slot and booking that is not
cancelled (booked, attended or, on a past day, missed), ordered by slot then
name; a slot with nobody booked comes once with empty booking columns. Only
the last 4 characters of an ID are stored, so the roster cannot know an ID's
length: every ID is shown in Aadhaar's shape (XXXX XXXX 1234), which also hides
the length.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date
from html import escape
from itertools import groupby
from typing import Any

from kmcbot.booking.ids import IdType
from kmcbot.booking.model import IST

Row = Mapping[str, Any]

# The documented columns first; `vaccine` is an addition at the end so that
# readers of the first six by position keep working.
CSV_COLUMNS = (
    "reference", "slot", "name", "id_type", "masked_id", "status", "vaccine", "notice_failed",
)  # fmt: skip

ID_LABELS = {
    IdType.AADHAAR: "Aadhaar",
    IdType.EPIC: "Voter ID (EPIC)",
    IdType.PAN: "PAN",
    IdType.PASSPORT: "Passport",
    IdType.DRIVING_LICENCE: "Driving Licence",
    IdType.NPR: "NPR Smart Card",
    IdType.PENSION: "Pension Passbook",
    IdType.UDID: "Disability ID (UDID)",
}
VACCINE_LABELS = {"covishield": "Covishield", "covaxin": "Covaxin", "sputnik_v": "Sputnik V"}
# A cancelled session's reason code (dialogue/notices.REASON_CODES) on the printed page.
REASON_LABELS = {
    "supply_not_arrived": "vaccine supply not arrived",
    "centre_closed": "centre closed",
    "holiday": "holiday",
    "other": "other",
}


def masked_id(last4: str | None) -> str:
    return f"XXXX XXXX {last4}" if last4 else ""  # empty: erased at the citizen's request


def slot_label(row: Row) -> str:
    return f"{row['start_time']:%H:%M}-{row['end_time']:%H:%M}"


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; names are checked
    # when booked, but the roster must be safe to open whatever is stored.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    # A byte order mark so that Excel reads Bengali and Hindi names as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        if r["reference"] is None:
            continue  # an empty slot
        writer.writerow(
            _cell(v)
            for v in (
                r["reference"],
                slot_label(r),
                r["name"] or "",
                r["id_type"],
                masked_id(r["id_last4"]),
                r["status"],
                r["vaccine"],
                notice_failed(r),
            )
        )
    return out.getvalue()


def notice_failed(row: Row) -> str:
    """A notice WhatsApp reported failed (sql/015), as "reminder 131047"; else empty."""
    kind = row.get("notice_failed_kind")
    return f"{kind} {row.get('notice_failed_code') or ''}".strip() if kind else ""


def render_json(centre: Row, day: date, rows: Sequence[Row]) -> dict[str, object]:
    """*(addition)* The roster as JSON: the CSV's rows, with the failed notice as an object."""
    bookings = [
        {
            "reference": r["reference"],
            "slot": slot_label(r),
            "slot_id": r["slot_id"],
            "name": r["name"] or "",
            "id_type": r["id_type"],
            "masked_id": masked_id(r["id_last4"]),
            "status": r["status"],
            "vaccine": r["vaccine"],
            "notice_failed": {
                "kind": r["notice_failed_kind"],
                "code": r["notice_failed_code"],
                "at": r["notice_failed_at"].isoformat(),
            }
            if r.get("notice_failed_kind")
            else None,
        }
        for r in rows
        if r["reference"] is not None
    ]
    return {"centre": centre["code"], "date": day.isoformat(), "bookings": bookings}


# The staff console's printed roster uses it too.
PRINT_CSS = """
body { font-family: "Noto Sans", "Noto Sans Bengali", "Noto Sans Devanagari", Arial, sans-serif;
       margin: 1.5em; color: #000; }
header h1 { font-size: 1.4em; margin: 0 0 .2em; }
header p { margin: .1em 0; }
section { margin-top: 1.2em; break-inside: avoid-page; }
h2 { font-size: 1.1em; margin: 0 0 .3em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #444; padding: .25em .4em; text-align: left; font-size: .95em; }
th { background: #eee; }
td.tick { width: 4em; }
tr { break-inside: avoid; }
.cancelled { color: #a00; font-weight: bold; }
.empty { font-style: italic; }
@media print {
  body { margin: 0; }
  @page { size: A4; margin: 12mm; }
  thead { display: table-header-group; }  /* repeat the header row on every page */
  th { background: none; }
}
"""


def render_html(centre: Row, day: date, rows: Sequence[Row], printed_at: str) -> str:
    """The day's page: the centre in the header, then one table per slot."""
    sections = [_section(list(group)) for _, group in groupby(rows, key=lambda r: r["slot_id"])]
    body = "\n".join(sections) or '<p class="empty">No sessions on this day.</p>'
    title = f"{centre['name']} — {day.isoformat()}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Roster: {escape(title)}</title>
<style>{PRINT_CSS}</style>
</head>
<body>
<header>
<h1>{escape(centre["name"])}</h1>
<p>{escape(centre["address"])}</p>
<p><strong>{escape(f"{day:%A} {day.day} {day:%B %Y}")}</strong> · second dose roster ·
printed {escape(printed_at)}</p>
</header>
{body}
</body>
</html>
"""


def _section(rows: list[Row]) -> str:
    first = rows[0]
    vaccine = VACCINE_LABELS.get(first["vaccine"], first["vaccine"])
    heading = escape(
        f"{slot_label(first)} · {vaccine} · {first['booked']} booked of {first['capacity']}"
    )
    if first["slot_status"] == "cancelled":
        reason = first["cancel_reason"] or ""
        note = f"Session cancelled: {REASON_LABELS.get(reason, reason)}"
        heading += f' <span class="cancelled">{escape(note)}</span>'
    people = [r for r in rows if r["reference"] is not None]
    if not people:
        return f'<section><h2>{heading}</h2><p class="empty">Nobody booked.</p></section>'
    lines = "\n".join(
        "<tr>"
        f"<td>{n}</td>"
        f"<td>{escape(r['reference'])}</td>"
        f"<td>{escape(r['name'] or '')}</td>"
        f"<td>{escape(ID_LABELS.get(r['id_type']) or r['id_type'])}</td>"
        f"<td>{escape(masked_id(r['id_last4']))}</td>"
        f"<td>{escape(_status(r))}</td>"
        '<td class="tick"></td>'
        "</tr>"
        for n, r in enumerate(people, 1)
    )
    return f"""<section>
<h2>{heading}</h2>
<table>
<thead><tr><th>#</th><th>Reference</th><th>Name</th><th>ID type</th><th>ID</th>
<th>Status</th><th>✓</th></tr></thead>
<tbody>
{lines}
</tbody>
</table>
</section>"""


def _status(row: Row) -> str:
    if row["status"] == "attended" and row["attended_at"] is not None:
        return f"attended {row['attended_at'].astimezone(IST):%H:%M}"
    return str(row["status"])
