#!/bin/bash
# What uring-server's CPU per connection does as the connections waiting at once grow, with a ring Timeout per
# connection (old) and with lean's timer heap and one Timeout per loop (new), lean-server beside them.
#
# Usage: results/experiments/uring-timeouts.sh ROUNDS old=PATH new=PATH lean=PATH [async-client=PATH]
# Each cell: the server with --threads 2, `async-client --engine loop` opening N connections at once, each asking
# /say/hello with a 1 s wait (as `lab bench --parts reach` does, without its floors); the server's CPU (user + sys
# from /proc/PID/stat) over the client's run, per connection. Builds and levels are interleaved round by round.
# Then one perf profile per uring build at 10,000: the share of the server's samples under io_timeout_* functions.
set -euo pipefail
ROUNDS=$1; shift
declare -A BIN
for arg in "$@"; do BIN[${arg%%=*}]=${arg#*=}; done
CLIENT=${BIN[async-client]:-target/release/async-client}
PORT=18777
TICK=$(getconf CLK_TCK)

cell() { # cell NAME N [perf-output]
    local exe=${BIN[$1]} n=$2
    "$exe" --port $PORT --threads 2 --quiet --hello-ms 1000 --max-connections $((n + 100)) >/dev/null 2>&1 &
    local pid=$! perf_pid=""
    until curl -s -o /dev/null http://127.0.0.1:$PORT/health; do sleep 0.05; done
    read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
    if [ -n "${3:-}" ]; then perf record -F 2000 -g -o "$3" -p $pid >/dev/null 2>&1 & perf_pid=$!; sleep 0.3; fi
    local out
    out=$("$CLIENT" --engine loop --url "http://127.0.0.1:$PORT/say/hello?name=lab&ms=1000" -n "$n" -c "$n" \
        --warmup 0 --json)
    read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
    if [ -n "$perf_pid" ]; then kill -INT $perf_pid; wait $perf_pid || true; fi
    kill $pid; wait $pid 2>/dev/null || true
    python3 -c "
import json, sys
d = json.loads(sys.argv[1]); cpu = ($u1 + $s1 - $u0 - $s0) / $TICK
print(f'$1 N=$n wall {d[\"wall_s\"]:.3f} s failed {d[\"failed\"]} server CPU {cpu:.2f} s = {cpu * 1e6 / $n:.0f} us/connection')
" "$out"
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; rounds $ROUNDS"
for r in $(seq 1 "$ROUNDS"); do
    for n in 5000 10000 15000; do
        for name in old new lean; do echo "round $r $(cell $name $n)"; done
    done
done
for name in old new; do
    cell $name 10000 "/tmp/uring-timeouts-$name.data" >/dev/null
    echo "perf $name N=10000: share of samples with io_timeout_* in their call chain:"
    perf report -i "/tmp/uring-timeouts-$name.data" --children --stdio --sort symbol 2>/dev/null \
        | grep -E '^ +[0-9.]+% +[0-9.]+% .*io_timeout' | head -5 | sed 's/^/  /' || echo "  (none)"
done
