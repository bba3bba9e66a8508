"""Commands onto the wire with hiredis's C encoder.

redis-py's asyncio connection packs every argument in Python (an ``Encoder.encode`` call
and a few bytes joins per argument). A hold is one ``EVALSHA`` of about 17 arguments, so
on the hot path that packing cost more than the rest of the engine call together
(``bench/notes.md``). hiredis (the C parser redis-py already uses for replies when it is
installed) also exports ``pack_command``: same protocol bytes, floats as ``repr`` and
ints as ``str`` exactly like redis-py, checked in ``tests/unit/test_redis_wire.py``.
Anything it does not take (None, bool, a command name with a space) goes the usual way,
so errors stay redis-py's own.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis


class PackedConnection(aioredis.Connection):
    """A plain TCP connection whose commands are packed by hiredis when possible."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        if isinstance(first, str):
            plain = " " not in first
        elif isinstance(first, bytes):
            plain = b" " not in first
        else:
            plain = False
        if plain:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:  # None, bool, ...: redis-py raises its own DataError
                pass
        return super().pack_command(*args)
