"""Valid test ID numbers."""

from __future__ import annotations

from stdnum import verhoeff


def aadhaar_from(first11: str = "23412341234") -> str:
    """11 digits and their Verhoeff check digit: a valid Aadhaar number if the first is 2-9."""
    return first11 + verhoeff.calc_check_digit(first11)


def aadhaar(n: int) -> str:
    """A valid Aadhaar number (Verhoeff check digit, first digit 2-9), distinct per n."""
    return aadhaar_from(f"{2 + n % 8}{(n * 7919 + 1234567) % 10**10:010d}")
