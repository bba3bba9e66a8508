"""Helpers for the Redis Cluster tests: who serves a slot, killing a master with
SIGKILL, and waiting for its replica to take over (the local cluster of
``.ci/redis-cluster.sh``; ``tests/backends.ensure_cluster`` brings a killed node back)."""

from __future__ import annotations

import os
import signal
import time

import redis
from redis.crc import key_slot

from backends import CLUSTER_PORTS


def _nodes(port: int) -> list[list[str]]:
    """``CLUSTER NODES`` as seen from ``port``, one split line per node."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        raw = client.execute_command("CLUSTER", "NODES")
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return [line.split() for line in text.splitlines() if line.strip()]


def _serves(fields: list[str], slot: int) -> bool:
    for part in fields[8:]:
        if part.startswith("["):
            continue  # a slot being migrated
        lo, _, hi = part.partition("-")
        if int(lo) <= slot <= int(hi or lo):
            return True
    return False


def master_port(slot: int, ask: int | None = None) -> int:
    """The port of the master serving ``slot``, as the node on ``ask`` sees it."""
    for fields in _nodes(ask or CLUSTER_PORTS[0]):
        if "master" in fields[2] and "fail" not in fields[2] and _serves(fields, slot):
            return int(fields[1].split("@")[0].rsplit(":", 1)[1])
    raise AssertionError(f"no master serves slot {slot}")


def drop_slot(drop_id: str) -> int:
    """The slot of every key of a drop (its hash tag is the drop id)."""
    return int(key_slot(drop_id.encode()))


def kill(port: int) -> int:
    """SIGKILL the redis-server on ``port`` (no shutdown code runs, nothing is saved);
    returns its pid."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_for_new_master(slot: int, old: int, timeout_s: float = 30.0) -> int:
    """Poll a surviving node until another master serves ``slot`` and the cluster says
    ok; the new master's port."""
    witness = next(p for p in CLUSTER_PORTS if p != old)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            port = master_port(slot, ask=witness)
            client = redis.Redis(host="127.0.0.1", port=witness, socket_timeout=2)
            try:
                info = client.execute_command("CLUSTER", "INFO")
            finally:
                client.close()
            text = info.decode() if isinstance(info, bytes) else str(info)
            if port != old and "cluster_state:ok" in text:
                return port
        except (AssertionError, redis.RedisError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no replica took over slot {slot} from port {old} in {timeout_s} s")
