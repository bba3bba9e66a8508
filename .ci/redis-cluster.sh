#!/usr/bin/env bash
# A local Redis Cluster for the tests and the benchmark: six redis-server processes on
# loopback (three masters, three replicas), no persistence, data under /tmp.
#
#   .ci/redis-cluster.sh start    start what is missing (a node that died rejoins from its
#                                 nodes.conf) and wait until every slot is served and
#                                 every master has a replica; idempotent
#   .ci/redis-cluster.sh stop     stop the six processes (by their pid files)
#   .ci/redis-cluster.sh status   exit 0 when the cluster is up and healthy
#
# Ports DROPLINE_CLUSTER_PORT .. +5 (default 7101-7106). Called by .ci/run and by the
# pytest session fixture (tests/backends.py) when the cluster is missing.
set -euo pipefail

BASE_PORT="${DROPLINE_CLUSTER_PORT:-7101}"
ROOT="${DROPLINE_CLUSTER_DIR:-/tmp/dropline-redis-cluster}"
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE_PORT + i))); done

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

up() { cli "$1" ping >/dev/null 2>&1; }

healthy() {
  # every node answers, one of them sees all slots served, and 3 masters each have a
  # connected replica (so a killed master can fail over)
  local p
  for p in "${PORTS[@]}"; do up "$p" || return 1; done
  cli "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  local masters replicas
  masters=$(cli "${PORTS[0]}" cluster nodes | grep -v fail | grep -c master || true)
  replicas=$(cli "${PORTS[0]}" cluster nodes | grep -v fail | grep -c slave || true)
  [ "$masters" -eq 3 ] && [ "$replicas" -eq 3 ] || return 1
  local m
  for m in $(cli "${PORTS[0]}" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {print $2}'); do
    m="${m%%@*}"
    cli "${m##*:}" info replication | grep -q '^connected_slaves:1' || return 1
  done
  # settled: every node says ok and flags no node as failing (after a failover the
  # nodes' views converge a moment later; a test started before that sees a stale map)
  for p in "${PORTS[@]}"; do
    cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    if cli "$p" cluster nodes 2>/dev/null | awk '{print $3}' | grep -q 'fail'; then
      return 1
    fi
    if cli "$p" info replication | grep -q '^role:slave'; then
      cli "$p" info replication | grep -q '^master_link_status:up' || return 1
    fi
  done
}

start_node() {
  local p="$1" dir="$ROOT/$1"
  mkdir -p "$dir"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --save '' --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 2000 --cluster-replica-validity-factor 0
}

start() {
  local p created=1 fresh=1
  for p in "${PORTS[@]}"; do
    if up "$p"; then fresh=0; else start_node "$p"; fi
  done
  for _ in $(seq 1 100); do
    local all=1
    for p in "${PORTS[@]}"; do up "$p" || all=0; done
    [ "$all" = 1 ] && break
    sleep 0.1
  done
  for p in "${PORTS[@]}"; do up "$p" || { echo "redis node $p did not start" >&2; exit 1; }; done
  # A fresh set of nodes knows no slot yet: create the cluster.
  if cli "${PORTS[0]}" cluster info | grep -q '^cluster_slots_assigned:0'; then
    created=0
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  for _ in $(seq 1 300); do
    if healthy; then
      [ "$created" = 0 ] && echo "redis cluster created on ports ${PORTS[0]}-${PORTS[5]}"
      return 0
    fi
    sleep 0.1
  done
  # All six were started here from an earlier run's nodes.conf and did not form a
  # healthy cluster: start over from empty data directories, once.
  if [ "$fresh" = 1 ] && [ "${DROPLINE_CLUSTER_RETRY:-1}" = 1 ]; then
    echo "redis cluster did not re-form from $ROOT; recreating it" >&2
    stop
    sleep 0.5
    rm -rf "$ROOT"
    DROPLINE_CLUSTER_RETRY=0 start
    return
  fi
  echo "redis cluster on ports ${PORTS[0]}-${PORTS[5]} is not healthy:" >&2
  cli "${PORTS[0]}" cluster nodes >&2 || true
  exit 1
}

stop() {
  local p pid
  for p in "${PORTS[@]}"; do
    if [ -f "$ROOT/$p/redis.pid" ]; then
      pid="$(cat "$ROOT/$p/redis.pid")"
      kill "$pid" 2>/dev/null || true
      rm -f "$ROOT/$p/redis.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
