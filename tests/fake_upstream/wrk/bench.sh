#!/usr/bin/env bash
# Throughput of the fake on one core: the server pinned to CPU 0, wrk to CPU 1.
#   tests/fake_upstream/wrk/bench.sh [seconds] [connections]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-10}
connections=${2:-64}
port=${FAKE_BENCH_PORT:-18090}
url="http://127.0.0.1:$port/v1beta/models/gemini-2.5-flash"
taskset -c 0 python -c "from gemini_gateway.fake_upstream import serve_fake; serve_fake(port=$port)" &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/v1beta/models?key=k" && break; sleep 0.1; done
run() {
  echo "== $1"
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" -s "$here/$2" "$3" | grep -E "Requests/sec|Latency|Non-2xx" || true
}
run "generateContent, same body (cached render)" generate.lua "$url:generateContent"
run "generateContent, a new body every request" generate_varied.lua "$url:generateContent"
run "streamGenerateContent?alt=sse, 20 events" stream20.lua "$url:streamGenerateContent?alt=sse"
