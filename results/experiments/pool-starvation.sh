#!/bin/sh
# pool-server, io at c = 100 (100 requests of D = 1 s, --threads 16): why 13.2 s where the model said 7.0 s.
# Runs the cell by hand, varying the client's engine, keep-alive and warm-up, and reads the server's access log
# (one line per request: time, status, target, peer, duration) to count connections and requests per connection.
# Usage: flock /work/coord/bench.lock results/experiments/pool-starvation.sh BIN_DIR [POOL_SERVER_BEFORE]
# BIN_DIR holds async-client and pool-server (release); POOL_SERVER_BEFORE, if given, is a pool-server binary
# from before the fix, run first with the same clients.
set -eu
bin=${1:-target/release}
before=${2:-}
port=${PORT:-18431}
run() {
    label=$1; shift
    log=$(mktemp)
    "$pool" --port "$port" --threads 16 --hello-ms 1000 >/dev/null 2>"$log" &
    server=$!
    until curl -s "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.05; done
    out=$("$bin/async-client" --url "http://127.0.0.1:$port/say/hello?name=lab&ms=1000" -n 100 -c 100 "$@" --json)
    kill "$server"; wait "$server" 2>/dev/null || true
    wall=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("wall %.2f s, %d ok, %d failed" % (d["wall_s"], d["succeeded"], d["failed"]))')
    python3 - "$log" "$label" "$wall" <<'PY'
import sys, collections, datetime
log, label, wall = sys.argv[1:4]
peers = collections.Counter(); starts = []
for line in open(log):
    parts = line.split()
    if len(parts) < 6 or not parts[3].startswith('/say/hello'):
        continue
    t = datetime.datetime.fromisoformat(parts[0].replace('Z', '+00:00')).timestamp()
    ms = float(parts[5].rstrip('ms'))
    peers[parts[4]] += 1
    starts.append(t - ms / 1000)
starts.sort()
t0 = starts[0] if starts else 0
hist = collections.Counter(int(s - t0) for s in starts)
per = collections.Counter(peers.values())
print(f"{label}: client says {wall}; server served {len(starts)} /say/hello on {len(peers)} connections "
      f"(requests per connection: {dict(sorted(per.items()))}); requests started per second from the first: "
      f"{[hist[i] for i in range(max(hist) + 1)] if hist else []}")
PY
    rm -f "$log"
}
experiments() {
run "surf, keep-alive on, warm-up 10 (the matrix cell)" --engine surf --keep-alive on --warmup 10
run "surf, keep-alive on, warm-up 0" --engine surf --keep-alive on --warmup 0
run "surf, keep-alive off, warm-up 10" --engine surf --keep-alive off --warmup 10
run "lean, keep-alive on, warm-up 10" --engine lean --keep-alive on --warmup 10
run "lean, keep-alive on, warm-up 0" --engine lean --keep-alive on --warmup 0
}
if [ -n "$before" ]; then
    echo "== pool-server before the fix ($before)"
    pool=$before experiments
fi
echo "== pool-server after the fix ($bin/pool-server)"
pool=$bin/pool-server experiments
