"""Instructions per order, counted by valgrind: a measure of the code that does not drift.

    .venv/bin/python -P bench/order_instructions.py [--orders N] [--buyers B]

On a shared virtual machine the same code runs ±7 % faster or slower from one minute to
the next (``bench/notes.md``), more than most single changes save, and this VM has no
hardware counters (``perf stat`` reports them as not supported). ``valgrind --tool=
callgrind`` counts the instructions executed instead, which repeat to a fraction of a
percent. This runs the in-process loop of ``checkout_http_cost.py --buyers`` (hold +
checkout through the ASGI app, B buyers at once, the server's GC tuning) under callgrind
twice, with a warm-up of 200 orders and then 200 or 200 + N more, and prints the
difference per order, split by shared library (the Python interpreter, SQLite, libc,
...). Start-up, seeding and imports cancel out. About 4 minutes for N = 1000.

The loop has no HTTP server, no load generator and no background jobs, so it measures
the request path's own work; the server's numbers stay those of ``run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WARM_UP = 200


def loop(orders: int, buyers: int) -> None:
    """The measured process: a seeded database, the app in process, WARM_UP orders and
    then ``orders`` more, ``buyers`` at a time."""
    import cProfile  # noqa: F401  (before bench/ is on the path: bench/profile.py)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checkout_http_cost import app_in_process, by_buyers, order_maker, seeded_database

    from dropline.runtime import tune_gc

    url, sd = seeded_database("dropline-instructions-")

    async def go() -> None:
        c, app = await app_in_process(url)
        tune_gc(c.settings.gc_gen0)  # as a server process does
        one = order_maker(app, sd)
        await by_buyers(one, WARM_UP, buyers)
        await by_buyers(one, orders, buyers)
        await c.close()

    asyncio.run(go())


def by_library(out_file: Path) -> collections.Counter[str]:
    """Instructions per shared library from a callgrind output file."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    libs: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        lib = m.group(2).rsplit(" [", 1)[-1].rstrip("]").rsplit("/", 1)[-1]
        libs[lib if " [" in m.group(2) else "(inlined, mostly the interpreter)"] += int(
            m.group(1).replace(",", "")
        )
    return libs


def count(orders: int, buyers: int, work: Path) -> tuple[int, collections.Counter[str]]:
    out = work / f"callgrind.{orders}"
    # A fixed string hash seed: dict and set layouts, and so the instructions, repeat.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-P",
            __file__,
            "--inner",
            str(orders),
            "--buyers",
            str(buyers),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    m = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not m:
        sys.exit(f"the measured run failed:\n{done.stderr[-2000:]}")
    return int(m.group(1)), by_library(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--buyers", type=int, default=32)
    ap.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner is not None:
        loop(args.inner, args.buyers)
        return 0
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (apt-get install -y valgrind)")
    with tempfile.TemporaryDirectory(prefix="dropline-callgrind-") as tmp:
        base, base_libs = count(0, args.buyers, Path(tmp))
        full, full_libs = count(args.orders, args.buyers, Path(tmp))
    per = (full - base) / args.orders
    print(f"{per / 1e6:.3f} million instructions per order ({args.buyers} buyers at once)")
    for lib, n in sorted(full_libs.items(), key=lambda kv: -(kv[1] - base_libs[kv[0]])):
        share = (n - base_libs[lib]) / args.orders
        if share >= per / 200:
            print(f"  {share / 1e6:7.3f}  {100 * share / per:5.1f} %  {lib}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
