#!/usr/bin/env bash
# Herald on the memory engine, on Redis, and across two nodes on Redis, under the same load:
# publish -> receive latency and delivered events/s from herald-bench, plus publishes/s through
# Redis and Redis' CPU per 10,000 publishes. Servers (gateways and Redis) run on CPU 0, the load
# client on CPU 1. Not part of the test suite.
#
#   bench/redis_engine.sh [ws_clients] [rate events/s] [events]
#   publishers=64 bench/redis_engine.sh ...   PublishStream calls for the publish run
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-1000}
rate=${2:-500}
events=${3:-10000}
bin=build/bin
port=$((20000 + RANDOM % 20000))
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 0 redis-server --port "$port" --save "" --appendonly no --daemonize no \
  --logfile "$work/redis.log" &
redis_pid=$!
pids+=("$redis_pid")
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

# Starts node N on free ports, with more flags; sets http, grpc and pid.
start_node() {
  local log="$work/node$1.log"
  taskset -c 0 "$bin/herald" --threads=1 --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
    --web_root=none --publish_rate=0 "${@:2}" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  until grep -q "herald listening" "$log"; do sleep 0.05; done
  read -r http grpc < <(sed -n 's/.*herald listening http=\(\S*\) grpc=\(\S*\).*/\1 \2/p' "$log")
}

redis_cpu_ticks() { awk '{print $14 + $15}' "/proc/$redis_pid/stat"; }

# run NAME HTTP GRPC PID: one fan-out measurement; prints the report's key lines.
run() {
  echo "== $1: $clients WebSocket subscribers, one topic, $rate events/s, $events events, 100 B"
  taskset -c 1 "$bin/herald-bench" --http="$2" --grpc="$3" --gateway_pid="$4" \
    --ws_clients="$clients" --topics=1 --events="$events" --rate="$rate" --payload_bytes=100 \
    --warmup_events=200 2>&1 | grep -E "^  (delivered|latency|order|cpu)" || true
}

start_node 1
run "one node, memory engine" "$http" "$grpc" "$pid"
kill "$pid"

start_node 2 "--broker=redis://127.0.0.1:$port"
http1=$http grpc1=$grpc pid1=$pid
run "one node, Redis" "$http1" "$grpc1" "$pid1"

start_node 3 "--broker=redis://127.0.0.1:$port"
run "two nodes on Redis: publish on node 1, subscribers on node 2" "$http" "$grpc1" "$pid"

echo "== publishes/s one node pushes through Redis (PublishStream, 1000 topics, no subscriber)"
before=$(redis_cpu_ticks)
taskset -c 1 "$bin/herald-bench" --http="$http1" --grpc="$grpc1" --gateway_pid="$pid1" \
  --ws_clients=0 --topics=1000 --events=100000 --rate=0 --payload_bytes=100 \
  --publishers="${publishers:-16}" \
  --warmup_events=0 2>&1 | grep -E "^  (published|cpu)"
after=$(redis_cpu_ticks)
hz=$(getconf CLK_TCK)
echo "  redis cpu      $(( (after - before) * 1000 / hz )) ms for 100000 publishes:" \
  "$(( (after - before) * 1000 / hz / 10 )) ms per 10,000"
