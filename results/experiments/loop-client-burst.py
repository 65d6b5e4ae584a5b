#!/usr/bin/env python3
"""The lean engine as tasks (--engine lean) against its bytes on an explicit event loop (--engine loop) in the
10,000-connection burst (D = 1 s), next to the floor and the floor with HTTP's bytes, alternated in rounds.

Each cell starts a fresh server (--port 0 --threads 2), runs one burst (-n N -c N --warmup 0) and reads the
client's wall from its JSON and its CPU from getrusage of the child. The floors are lab/src/bench/floor.rs, run
from the lab binary with its environment roles (LAB_FLOOR_ROLE).

Usage: flock /work/coord/bench.lock env R=3 SERVERS=lean-server,tokio-server CLIENTS=lean,loop \
           results/experiments/loop-client-burst.py
"""
import json, os, subprocess, sys, time
BIN = os.environ.get("BIN", "target/release")
LAB = os.environ.get("LAB", f"{BIN}/lab")
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 3))
SERVERS = os.environ.get("SERVERS", "lean-server,tokio-server,smol-server").split(",")

def floor(http):
    env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(N), LAB_FLOOR_WAIT_MS=str(D_MS), LAB_FLOOR_THREADS="2",
               LAB_FLOOR_HTTP="1" if http else "0")
    server = subprocess.Popen([LAB], env=dict(env, LAB_FLOOR_ROLE="server"), stdout=subprocess.PIPE, text=True)
    addr = server.stdout.readline().strip().removeprefix("listening on http://")
    out = subprocess.run([LAB], env=dict(env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr), capture_output=True,
                         text=True).stdout
    server.stdout.read()
    server.wait()
    c = json.loads(out)
    return c["wall_s"], c["failed"], c["user_s"] + c["sys_s"]

def cell(name, client):
    server = subprocess.Popen([f"{BIN}/{name}", "--port", "0", "--threads", "2", "--quiet", "--hello-ms", str(D_MS),
                               "--max-connections", str(N)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
        import resource
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([f"{BIN}/async-client", "--engine", client, "--url", url, "-n", str(N), "-c", str(N),
                              "--warmup", "0", "--keep-alive", "on", "--json"], capture_output=True, text=True).stdout
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        d = json.loads(out)
        return d["wall_s"], d["failed"], (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
    finally:
        server.terminate(); server.wait()

rows = {}
for r in range(R):
    cells = [("floor", "-", lambda: floor(False)), ("floor+http", "-", lambda: floor(True))]
    for s in SERVERS:
        for c in os.environ.get("CLIENTS", "lean,loop").split(","):
            cells.append((s, c, lambda s=s, c=c: cell(s, c)))
    for s, c, f in cells:
        w, failed, cpu = f()
        rows.setdefault((s, c), []).append(w)
        print(f"round {r+1} {s:13} {c:13} wall {w:.3f} s failed {failed} client CPU {cpu*1e6/N:5.1f} µs/conn", flush=True)
        time.sleep(1)
med = lambda v: sorted(v)[len(v)//2]
base = med(rows[("floor", "-")])
print("\nmedians:")
for (s, c), v in rows.items():
    print(f"{s:13} {c:13} {med(v):.3f} s  ÷ floor {med(v)/base:.3f}   all: {' '.join(f'{x:.3f}' for x in v)}")
