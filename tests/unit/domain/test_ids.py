from __future__ import annotations

import base64
import os
import time

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


def test_ids_start_with_their_creation_time_and_end_random() -> None:
    """The first 48 bits are the time in milliseconds (ids made later sort later, so new
    rows append to the indexes); the last 72 bits are random (unguessable)."""
    before = time.time_ns() // 1_000_000
    made = [new_id("ord") for _ in range(200)]
    after = time.time_ns() // 1_000_000
    for i in made:
        raw = base64.b32decode(i[4:].upper())
        assert before <= int.from_bytes(raw[:6], "big") <= after
    time.sleep(0.002)
    later = new_id("ord")
    assert all(later > i for i in made)
    tails = {i[-14:] for i in made}  # the last 70 bits: random, so all different
    assert len(tails) == 200
