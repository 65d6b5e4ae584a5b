#!/bin/bash
# CPU per request of server builds side by side: each server pinned to CPU 0, wrk -t1 -c64 -d4s on CPU 1 against
# /no/param, builds interleaved round by round so that drift hits them alike. A request's CPU is the server's
# utime + stime (from /proc/<pid>/stat, 100 Hz ticks) over the requests wrk completed.
#
# usage: results/experiments/uring-cpu.sh ROUNDS LABEL=BINARY ...   (release builds; wrk installed)
set -euo pipefail
rounds=$1; shift
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }
for r in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    label=${spec%%=*}; bin=${spec#*=}
    out=$(mktemp)
    taskset -c 0 "$bin" --port 0 --quiet > "$out" 2>/dev/null &
    pid=$!
    for _ in $(seq 200); do grep -q listening "$out" && break; sleep 0.05; done
    port=$(grep -o '127.0.0.1:[0-9]*' "$out" | head -1 | cut -d: -f2)
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    res=$(taskset -c 1 wrk -t1 -c64 -d4s "http://127.0.0.1:$port/no/param" 2>/dev/null)
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill $pid; wait $pid 2>/dev/null || true
    rm -f "$out"
    n=$(echo "$res" | awk '/requests in/{print $1}')
    rps=$(echo "$res" | awk '/Requests\/sec/{printf "%.0f", $2}')
    echo "$label round=$r req_per_s=$rps cpu_us_per_request=$(echo "($t1-$t0)*10000/$n" | bc -l | xargs printf %.2f)"
  done
done
