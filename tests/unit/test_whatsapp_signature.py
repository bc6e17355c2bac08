import hashlib
import hmac

import pytest

from kmcbot.whatsapp.signature import sign, verify

SECRET = b"app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_sign_is_sha256_prefix_and_hex_hmac_of_the_body() -> None:
    expected = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == "sha256=" + expected


def test_verify_accepts_the_signature_of_the_same_body() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY))


def test_verify_accepts_upper_case_hex() -> None:
    header = sign(SECRET, BODY)
    assert verify(SECRET, BODY, "sha256=" + header.removeprefix("sha256=").upper())


def test_verify_rejects_a_changed_body() -> None:
    assert not verify(SECRET, BODY + b" ", sign(SECRET, BODY))


def test_verify_rejects_a_signature_made_with_another_secret() -> None:
    assert not verify(SECRET, BODY, sign(b"other-secret", BODY))


def test_verify_accepts_an_empty_body_when_signed() -> None:
    assert verify(SECRET, b"", sign(SECRET, b""))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        "SHA256=" + "0" * 64,
        "0" * 64,  # the digest without its prefix
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "sha256=" + "g" * 64,  # not hex
        "sha256=" + "\u0660" * 64,  # Arabic-Indic digits: non-ASCII
        "sha256=" + "é" * 64,
        " sha256=" + "0" * 64,
        "sha256=" + "0" * 64 + "\n",
    ],
)
def test_verify_rejects_missing_empty_or_malformed_headers(header: str | None) -> None:
    assert verify(SECRET, BODY, header) is False


def test_verify_rejects_a_well_formed_but_wrong_digest() -> None:
    assert not verify(SECRET, BODY, "sha256=" + "0" * 64)


@pytest.mark.parametrize("header", [b"sha256=00", 123, ["sha256="]])
def test_verify_returns_false_for_non_string_headers_instead_of_raising(header: object) -> None:
    assert verify(SECRET, BODY, header) is False  # type: ignore[arg-type]
