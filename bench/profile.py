"""Profile the API process under one benchmark load with py-spy (sampling, no code change).

    .venv/bin/pip install py-spy==0.4.0   # 0.4.3 could not attach to a process here
    .venv/bin/python bench/profile.py hot          # or: ceiling, soldout, checkout
    .venv/bin/python bench/profile.py hot --stack redis-pg --seconds 20

Seeds a fresh database like ``run.py``, starts ``dropline serve``, drives it with wrk and
records the server with ``py-spy record --format raw --nolineno`` (collapsed stacks by
function: line numbers are not needed for the tables, and py-spy 0.4.0 panicked reading
them on one machine, "index out of bounds" in ``get_line_number``). Prints the
functions with the most inclusive and self samples and writes the raw stacks next to
``--out`` (feed them to any flame-graph tool, e.g. speedscope.app).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


def summarize(raw: Path, top: int, only: str = "") -> str:
    """Top functions by inclusive and by self samples from py-spy's collapsed stacks
    (only the stacks containing ``only``, e.g. the event loop's thread)."""
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or only not in stack:
            continue
        count = int(n)
        total += count
        frames = [
            f.split(" (")[0] + " (" + f.split("(")[-1].split(":")[0].split("/")[-1] + ")"
            for f in stack.split(";")
        ]
        for f in set(frames):
            incl[f] += count
        if frames:
            self_[frames[-1]] += count
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    out += ["", "self:"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in self_.most_common(top)]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=["hot", "ceiling", "soldout", "checkout"])
    ap.add_argument("--stack", default="embedded", choices=sorted(harness.STACKS))
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", default="/tmp/dropline-profile.txt")
    ap.add_argument(
        "--native",
        action="store_true",
        help="also sample C frames (SQLite, the HTTP parser): py-spy then pauses the"
        " process per sample, so throughput drops; read the shares, not the rate",
    )
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    wrk = harness.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="dropline-profile-") as tmp:
        work = Path(tmp)
        st = harness.STACKS[args.stack]
        if not st.database_url:
            st = harness.Stack(
                st.name, st.label, f"sqlite+aiosqlite:///{work}/p.db", st.engine_url, st.workers
            )
        if harness.postgres_up():
            asyncio.run(harness.reset_postgres())
        if st.engine_url.startswith("redis"):
            asyncio.run(harness.reset_redis())
        subprocess.run(
            [sys.executable, "-m", "dropline", "db", "upgrade"],
            env=harness.env_for(st),
            check=True,
            capture_output=True,
        )
        sd = asyncio.run(harness.seed(st, [], 50))
        tokens = [harness.mint_token(i) for i in range(5000)]
        load = harness.Load(wrk, work, tokens, sd.storefront_key)
        server = harness.Server(st)
        server.start()
        try:
            hot = harness.hold_body({"sku_id": sd.hot_sku, "quantity": 1})
            script, threads = "post.lua", 2
            if args.scenario == "ceiling":
                cfg = {"paths": ["/bench/ceiling"], "bodies": [hot]}
            elif args.scenario in ("hot", "soldout"):
                drop, sku = (
                    (sd.hot_drop, sd.hot_sku)
                    if args.scenario == "hot"
                    else (sd.storm_drop, sd.storm_sku)
                )
                cfg = {
                    "paths": [f"/v1/drops/{drop}/holds"],
                    "bodies": [harness.hold_body({"sku_id": sku, "quantity": 1})],
                    "tokens": tokens,
                    "key": sd.storefront_key,
                }
            else:
                cfg = {
                    "hold_path": f"/v1/drops/{sd.checkout_drop}/holds",
                    "body": harness.hold_body({"sku_id": sd.checkout_sku, "quantity": 1}),
                    "tokens": tokens,
                    "key": sd.storefront_key,
                    "card": "pm_card_visa",
                }
                script, threads = "checkout.lua", args.connections
            watch = {"server": server.pids}
            load.run(server.base, script, cfg, 2, args.connections, threads, watch)  # warm-up
            raw = Path(args.out).with_suffix(".raw")
            pids = (
                [p for p in server.pids() if p != server.proc.pid]
                if st.workers > 1
                else [server.pids()[0]]
            )
            spy_cmd = [
                spy,
                "record",
                "--nolineno",
                "--format",
                "raw",
                "--rate",
                "200",
                *(["--native"] if args.native else ["--nonblocking"]),
                "--duration",
                str(args.seconds),
                "--pid",
                str(pids[-1]),
                "-o",
                str(raw),
            ]
            rec = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            result: dict[str, object] = {}

            def drive() -> None:
                result["res"] = load.run(
                    server.base, script, cfg, args.seconds, args.connections, threads, watch
                )

            t = threading.Thread(target=drive)
            t.start()
            t.join()
            rec.wait(timeout=120)
            if not raw.exists():
                assert rec.stderr is not None
                sys.exit(f"py-spy recorded nothing:\n{rec.stderr.read().decode()[:2000]}")
            res, cpu = result["res"]  # type: ignore[misc]
            head = (
                f"{args.scenario} on {st.label}: {res['requests'] / (res['duration_us'] / 1e6):.0f}"
                f" req/s, p99 {res['p99_us'] / 1000:.1f} ms, cpu {cpu}"
            )
            text = (
                head
                + "\n\n== event loop thread ==\n"
                + summarize(raw, args.top, "runners.py")
                + "\n\n== all threads ==\n"
                + summarize(raw, args.top)
            )
            Path(args.out).write_text(text + "\n")
            print(text)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
