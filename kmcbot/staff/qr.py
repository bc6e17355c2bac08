"""The check-in QR code: the booking's reference and a signed token, nothing personal.

Payload: "KMCQR1:<reference>:<token>", the token an HMAC of the reference and
its 4-digit code under a key derived from KMCBOT_ID_PEPPER (stable, secret, set
in production). Showing the QR proves what the code proves: a new code would
make an old QR worthless. The console's camera page reads it with the bundled
jsQR decoder (static/jsQR.js, Apache-2.0).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re

import segno

PREFIX = "KMCQR1"
_PAYLOAD = re.compile(rf"{PREFIX}:(KMC-[0-9A-Z]{{6}}):([A-Z2-7]{{16}})")


def _key(pepper: bytes) -> bytes:
    return hmac.new(pepper, b"kmcbot-checkin-qr", hashlib.sha256).digest()


def token(pepper: bytes, reference: str, code: str) -> str:
    mac = hmac.new(_key(pepper), f"{reference}:{code}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode()[:16]


def payload(pepper: bytes, reference: str, code: str) -> str:
    return f"{PREFIX}:{reference}:{token(pepper, reference, code)}"


def parse(text: str) -> tuple[str, str] | None:
    """(reference, token) from a scanned text, or None if it is not a check-in QR."""
    found = _PAYLOAD.fullmatch(text.strip())
    return (found.group(1), found.group(2)) if found else None


def verify(pepper: bytes, reference: str, code: str, given: str) -> bool:
    return hmac.compare_digest(token(pepper, reference, code), given)


def png(text: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def matrix(text: str) -> list[list[bool]]:
    """The modules, dark = True, with the 4-module quiet zone (tests draw video frames)."""
    return [
        [bool(m) for m in row]
        for row in segno.make(text, error="m", micro=False).matrix_iter(border=4)
    ]
