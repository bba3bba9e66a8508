"""Process plumbing of the benchmark: logging, free ports, the wrk binary, and the CPU,
RSS and CPU-steal readings taken from ``/proc``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

#: A measured run during which the hypervisor took more than this many cores' worth of
#: CPU is measured again, up to STEAL_ATTEMPTS times; the last attempt is kept.
STEAL_RETRY = 0.15
STEAL_ATTEMPTS = 3


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    """The wrk binary, installed from the system packages when missing (Debian)."""
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk not found: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk could not be installed; install it and run again")
    return path


def proc_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def proc_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def all_pids() -> list[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                raw = (d / "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            ppid = int(raw.rsplit(")", 1)[1].split()[1])
            out.append((int(d.name), ppid, comm))
    return out


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    procs = all_pids()
    kids: dict[int, list[int]] = {}
    for pid, ppid, _ in procs:
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def named(*names: str) -> list[int]:
    return [pid for pid, _, comm in all_pids() if comm in names]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def steal_ticks() -> int:
    """CPU time the hypervisor gave to other guests, all CPUs (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) if len(fields) > 8 else 0
