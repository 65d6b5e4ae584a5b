#!/bin/sh
# System calls per request: lean-server (readiness: epoll) against uring-server (completion: io_uring), on the
# same 20,000 GET /no/param from async-client's lean engine, 64 keep-alive connections. strace counts every
# system call of every thread of the server (`strace -f -c -p PID`) while the client runs; the counts are
# divided by the requests the server answered (the client's 20,000 and the /health that told us it was up).
# Usage: results/experiments/syscalls-per-request.sh [BIN_DIR]   (release binaries: lean-server, uring-server,
# async-client; needs strace). Writes the table to stdout; takes well under a minute.
set -eu
bin=${1:-target/release}
port=${PORT:-18461}
requests=20000
for server in lean-server uring-server; do
    db=$(mktemp -u /tmp/syscalls-XXXXXX.sqlite)
    "$bin/$server" --port "$port" --threads 2 --quiet --db "$db" >/dev/null &
    pid=$!
    until curl -s "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.05; done
    summary=$(mktemp)
    strace -f -c -p "$pid" -o "$summary" 2>/dev/null &
    tracer=$!
    # strace says nothing when it has attached: wait until every thread of the server is traced.
    until [ "$(grep -c '^TracerPid:[[:space:]]*[1-9]' /proc/"$pid"/task/*/status | grep -c ':0$')" = 0 ]; do
        sleep 0.05
    done
    "$bin/async-client" --url "http://127.0.0.1:$port/no/param" -c 64 -n "$requests" --engine lean --json \
        >/dev/null
    kill -INT "$tracer"
    wait "$tracer" || true
    kill -TERM "$pid"
    wait "$pid" || true
    rm -f "$db"
    python3 - "$summary" "$server" "$requests" <<'PY'
import sys
path, server, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = {}
for line in open(path):
    fields = line.split()
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
    if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
        calls[fields[-1]] = int(fields[3])
total = sum(calls.values())
print(f"{server}: {total} system calls for {requests} requests = {total / requests:.2f} per request")
for name, n in sorted(calls.items(), key=lambda kv: -kv[1]):
    if n / requests >= 0.001:
        print(f"  {name:<16} {n:>8}  {n / requests:.3f} per request")
PY
    rm -f "$summary"
done
