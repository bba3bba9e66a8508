from __future__ import annotations

import base64
import os
import threading
import time

import pytest

from dropline.domain.ids import b32_120, has_prefix, new_id

# RFC 4648's alphabet, and the same characters in ASCII order (what ids use)
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SORTED = "234567abcdefghijklmnopqrstuvwxyz"


def _decode(text: str) -> bytes:
    return base64.b32decode(text.translate(str.maketrans(_SORTED, _STANDARD)))


def test_b32_is_base32_in_sorting_order() -> None:
    """Standard base32 with its 32 characters reordered, so it decodes back exactly."""
    samples = (bytes(15), b"\xff" * 15, bytes(range(15)), *(os.urandom(15) for _ in range(500)))
    for raw in samples:
        text = b32_120(raw)
        assert len(text) == 24 and _decode(text) == raw
        standard = base64.b32encode(raw).decode()
        assert text == standard.translate(str.maketrans(_STANDARD, _SORTED))


def test_b32_sorts_as_its_bytes() -> None:
    """Two encodings compare as strings as their bytes compare: in particular every
    5-bit value's character sorts after the one before (the standard alphabet puts
    "2".."7" after "z" in value but before "a" in ASCII)."""
    for value in range(31):
        low = b32_120(value.to_bytes(15, "big"))
        high = b32_120((value + 1).to_bytes(15, "big"))
        assert low < high
    raws = [os.urandom(15) for _ in range(2000)]
    assert sorted(raws, key=b32_120) == sorted(raws)


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
        raw = _decode(i[4:])
        assert before <= int.from_bytes(raw[:6], "big") <= after
    time.sleep(0.002)
    later = new_id("ord")
    assert all(later > i for i in made)
    # every millisecond step, carries included, sorts later (not only the one just seen)
    stamps = [before + k for k in range(0, 70_000, 7)]
    encoded = [b32_120(t.to_bytes(6, "big") + bytes(9)) for t in stamps]
    assert encoded == sorted(encoded)
    tails = {i[-14:] for i in made}  # the last 70 bits: random, so all different
    assert len(tails) == 200


def _random_part(id_: str) -> int:
    """The 72 random bits of an id (its last 72 of 120)."""
    text = id_.split("_", 1)[1]
    return int.from_bytes(_decode(text)[6:], "big")


def test_ids_made_by_many_threads_at_once_are_all_different() -> None:
    """The random bits are read for many ids at once; threads taking them together
    never get the same ones (the bits alone, not the time, are compared)."""
    made: list[list[str]] = []

    def make() -> None:
        made.append([new_id("ord") for _ in range(3000)])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parts = [_random_part(i) for batch in made for i in batch]
    assert len(parts) == 24_000 and len(set(parts)) == 24_000


def test_a_forked_process_does_not_reuse_the_random_bits_its_parent_read() -> None:
    new_id("ord")  # the parent has random bits read ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out
        os.close(read)
        os.write(write, " ".join(new_id("ord") for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_id("ord") for _ in range(50)]
    assert len(child) == 50
    assert not {_random_part(i) for i in child} & {_random_part(i) for i in parent}
