"""Signed, expiring PDF download tokens."""

import pytest

from bot.dossiers.tokens import ExpiredToken, InvalidToken, check_pdf_token, make_pdf_token

SECRET = "a-secret-of-enough-length"
NOW = 1_770_000_000


def test_round_trip_until_expiry():
    token = make_pdf_token("HS-2026-K7Q4MP", SECRET, ttl=600, now=NOW)
    assert check_pdf_token(token, SECRET, now=NOW) == "HS-2026-K7Q4MP"
    assert check_pdf_token(token, SECRET, now=NOW + 599) == "HS-2026-K7Q4MP"
    with pytest.raises(ExpiredToken):
        check_pdf_token(token, SECRET, now=NOW + 600)


def test_tokens_are_unguessable_and_bound_to_code_and_expiry():
    token = make_pdf_token("HS-2026-K7Q4MP", SECRET, ttl=600, now=NOW)
    code, expires, sig = token.split(".")
    assert len(sig) >= 40
    with pytest.raises(InvalidToken):
        check_pdf_token(f"HS-2026-K7Q4MQ.{expires}.{sig}", SECRET, now=NOW)
    with pytest.raises(InvalidToken):
        check_pdf_token(f"{code}.{int(expires) + 3600}.{sig}", SECRET, now=NOW)
    with pytest.raises(InvalidToken):
        check_pdf_token(token, "another-secret-value-here", now=NOW)
    assert make_pdf_token("HS-2026-K7Q4MP", "another-secret-value-here", ttl=600, now=NOW) != token


@pytest.mark.parametrize("token", ["", "abc", "HS-2026-K7Q4MP.x.y", "a.b.c.d", "HS-2026-1.123.sig",
                                   "HS-2026-K7Q4MP.１２３.sig", "HS-2026-K7Q4MP\n.123.sig", None, {"a": 1}])
def test_malformed_tokens(token):
    with pytest.raises(InvalidToken):
        check_pdf_token(token, SECRET, now=NOW)


def test_bad_inputs():
    with pytest.raises(ValueError):
        make_pdf_token("HS-2026-K7Q4MP", "short", ttl=60)
    with pytest.raises(ValueError):
        make_pdf_token("not a code", SECRET, ttl=60)


def test_old_sequential_codes_keep_working():
    token = make_pdf_token("HS-2026-000001", SECRET, ttl=600, now=NOW)
    assert check_pdf_token(token, SECRET, now=NOW) == "HS-2026-000001"


def test_a_signature_with_non_ascii_characters_is_invalid_not_a_crash():
    token = make_pdf_token("HS-2026-K7Q4MP", SECRET, ttl=600, now=NOW)
    with pytest.raises(InvalidToken):
        check_pdf_token(token[:-1] + "é", SECRET, now=NOW)
