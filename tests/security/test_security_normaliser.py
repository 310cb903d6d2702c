"""The one input normaliser: NFKC, every script's digits to ASCII, whitespace, invisible characters."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings, strategies as st

from bot.textinput import ascii_digits, normalise_input


def test_examples():
    assert normalise_input("HS-2026-000001 ５６７８") == "HS-2026-000001 5678"      # fullwidth
    assert normalise_input("٥٦٧٨") == "5678"                                        # Arabic-Indic
    assert normalise_input("۰۹۱۲") == "0912"                                        # Persian
    assert normalise_input("0912\u00a0 345\t678") == "0912 345 678"
    assert normalise_input("  tôi \u200bmuốn\u202e làm  \n\n hộ chiếu ") == "tôi muốn làm\nhộ chiếu"
    assert normalise_input("ﬁ Ｎｇｕｙễｎ") == "fi Nguyễn"
    assert normalise_input(None) == ""


@given(st.text())
@settings(max_examples=400)
def test_properties(text):
    out = normalise_input(text)
    assert normalise_input(out) == out                                   # idempotent: applied once is enough
    assert out == out.strip()
    assert "  " not in out and "\t" not in out and "\r" not in out
    assert unicodedata.is_normalized("NFC", out)
    assert all(char.isascii() for char in out if char.isdecimal())      # \d means 0-9 after this
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in out if c != "\n")


@given(st.lists(st.integers(0, 9), min_size=1, max_size=12),
       st.sampled_from([0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE]))
def test_digits_of_any_script(digits, zero):
    text = "".join(chr(zero + d) for d in digits)
    assert ascii_digits(normalise_input(text)) == "".join(map(str, digits))
    assert normalise_input(text) == "".join(map(str, digits))
