"""The API server under test (``python -m dropline serve`` in its own process group) and
the small JSON-over-HTTP client the harness talks to it with."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from .procs import free_port, tree
from .stacks import Stack, env_for


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")


class Server:
    """``python -m dropline serve`` in its own process group."""

    def __init__(self, stack: Stack, extra_env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = env_for(stack) | (extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "dropline", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", str(self.stack.workers)]
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed with the process)
            prefix="bench-server-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            with contextlib.suppress(OSError):
                # Readiness of every worker: a few successful calls in a row.
                if all(http("GET", self.base + "/healthz") is not None for _ in range(8)):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {self.log.name}")

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
