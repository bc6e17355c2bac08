"""X-Hub-Signature-256: the HMAC-SHA256 Meta puts on every webhook POST.

The signature covers the raw request body, so verify before decoding JSON.
"""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_HEX_LENGTH = 2 * hashlib.sha256().digest_size


def sign(secret: bytes, body: bytes) -> str:
    """The header value Meta would send for `body` (also used by load testers)."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def well_formed(header: str | None) -> bool:
    """The header has a signature's shape ("sha256=" and 64 hex digits): checked
    before a body is read, so an unsigned upload costs nothing."""
    if not isinstance(header, str) or not header.startswith(_PREFIX):
        return False
    digest = header[len(_PREFIX) :]
    return len(digest) == _HEX_LENGTH and _HEX_DIGITS.issuperset(digest)


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only if `header` is a well-formed, matching signature of `body`.

    Never raises: the header is attacker-controlled, and a malformed one is
    simply a failed check.
    """
    # Shape checks first: compare_digest needs ASCII strings, and they leak
    # nothing secret (only the expected format, which is public).
    if not well_formed(header):
        return False
    assert header is not None
    digest = header[len(_PREFIX) :]
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    # Hex is case-insensitive; Meta sends lower case, normalise anyway.
    return hmac.compare_digest(expected, digest.lower())
