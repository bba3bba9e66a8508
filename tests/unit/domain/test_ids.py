from __future__ import annotations

import base64
import os

import pytest

from dropline.domain.ids import b32_120, has_prefix, new_id


def test_b32_is_the_standard_lower_case_base32() -> None:
    for raw in (bytes(15), b"\xff" * 15, bytes(range(15)), *(os.urandom(15) for _ in range(500))):
        assert b32_120(raw) == base64.b32encode(raw).decode().lower()


def test_new_ids_are_prefixed_unique_and_24_base32_characters() -> None:
    ids = {new_id("hld") for _ in range(2000)}
    assert len(ids) == 2000
    for i in ids:
        assert has_prefix(i, "hld") and len(i) == 4 + 24
        assert set(i[4:]) <= set("abcdefghijklmnopqrstuvwxyz234567")
    with pytest.raises(ValueError, match="bad id prefix"):
        new_id("no-good")
