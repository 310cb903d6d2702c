"""Masking of personal numbers."""

import pytest

from bot.dossiers.masking import mask, phone_last4


@pytest.mark.parametrize("value, masked", [
    ("001190012345", "0011*****345"),
    ("0912345678", "0912***678"),
    ("01234567789", "0123****789"),
    ("0912 345 678", "0912***678"),
    ("12345678", "1234*678"),
    ("1234567", "******7"),
    ("5", "*"),
    ("", ""),
    (None, ""),
])
def test_mask(value, masked):
    assert mask(value) == masked


def test_phone_last4():
    assert phone_last4("0912 345 678") == "5678"
    assert phone_last4("+84 912-345-678") == "5678"
    assert phone_last4("12") is None and phone_last4(None) is None
