"""Who a WhatsApp citizen is: a phone number, or a business-scoped user id.

Since 2026 a WhatsApp user may adopt a username and stop sharing their phone
number with businesses. Meta then identifies them by a business-scoped user
id (BSUID): two letters of country, a dot, up to 128 letters and digits
(`IN.1502576394655843`; a parent BSUID, shared across a managed business's
portfolios, has `ENT.` after the country). Webhooks carry it as
`contacts[].user_id` / `messages[].from_user_id`, and `wa_id` / `from` only
while the number is shared; the Messages API takes a BSUID in `recipient`
instead of `to` ("to" wins when both are given). Sources: Meta's
"Business-scoped user IDs" guide (developers.facebook.com/documentation/
business-messaging/whatsapp/business-scoped-user-ids/, updated May 2026) and
its system messages webhook reference (updated Aug 2026).

kmcbot's citizen id is the phone number when known (Meta recommends sending
to numbers when possible), else the BSUID; `storage/identities.py` remembers
which BSUID went with which number.
"""

from __future__ import annotations

import re

# E.164: at most 15 digits with the country code, which never starts with 0.
_PHONE = re.compile(r"[1-9][0-9]{6,14}")
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


def phone_number(value: object) -> str | None:
    """The digits of a phone number with its country code, or None.

    WhatsApp writes numbers as bare digits; "+91..." and "0091..." are the same
    citizen as "91...", so the international prefix is dropped.
    """
    if not isinstance(value, str) or len(value) > 20:
        return None
    digits = value.removeprefix("+") if value.startswith("+") else value.removeprefix("00")
    return digits if digits.isascii() and _PHONE.fullmatch(digits) else None


def bsuid(value: object) -> str | None:
    """A business-scoped user id exactly as WhatsApp sent it, or None."""
    if isinstance(value, str) and value.isascii() and _BSUID.fullmatch(value):
        return value
    return None


def is_bsuid(citizen: str) -> bool:
    """True for a citizen known only by BSUID (a phone number is all digits)."""
    return not citizen.isdigit()


def citizen_id(value: object) -> str | None:
    """A phone number (normalised) or a BSUID; None for anything else."""
    return phone_number(value) or bsuid(value)


def address(citizen: str) -> dict[str, str]:
    """The Messages API's addressing fields for `citizen`: `to` for a number,
    `recipient` for a BSUID."""
    return {"recipient": citizen} if is_bsuid(citizen) else {"to": citizen}
