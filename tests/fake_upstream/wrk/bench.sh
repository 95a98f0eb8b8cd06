#!/usr/bin/env bash
# Throughput of the fake on one core: the server pinned to CPU 0, wrk to CPU 1.
#   tests/fake_upstream/wrk/bench.sh [seconds] [connections]
# Besides wrk's wall-clock req/s it prints requests per CPU-second of the server process, which
# stays meaningful when other work shares the core (a busy CI box, parallel test runs).
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
run() {
  echo "== $1"
  before=$(cpu_ticks)
  out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" -s "$here/$2" "$3")
  used=$(( $(cpu_ticks) - before ))
  echo "$out" | grep -E "Requests/sec|Non-2xx" || true
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "server CPU: $(awk -v t="$used" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')s" \
    "-> $(awk -v r="$requests" -v t="$used" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", r / (t / hz)}') requests per CPU-second"
}
run "generateContent, same body (cached render)" generate.lua "$url:generateContent"
run "generateContent, a new body every request" generate_varied.lua "$url:generateContent"
run "streamGenerateContent?alt=sse, 20 events" stream20.lua "$url:streamGenerateContent?alt=sse"
