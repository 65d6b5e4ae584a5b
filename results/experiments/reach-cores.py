#!/usr/bin/env python3
"""Is the 10,000-connection burst (D = 1 s) CPU-bound on the shared cores? The same cells on both CPUs and
pinned to one (taskset -c 0 for every process of the cell), alternated in rounds: if the time beyond D is the
cores' work, one core roughly doubles it; if something else sets it (a wait, a serial hand-off), it barely moves.
Client: async-client --engine loop (the reach bench's). CPUSETS lists the placements, e.g. "0,1;0".

Each cell starts a fresh server (--port 0 --threads 2), runs one burst (-n N -c N --warmup 0) and reads the
client's wall from its JSON and its CPU from getrusage of the child. The floors are lab/src/bench/floor.rs, run
from the lab binary with its environment roles (LAB_FLOOR_ROLE).

Usage: flock /work/coord/bench.lock env R=3 SERVERS=lean-server,tokio-server results/experiments/reach-cores.py
"""
import json, os, subprocess, sys, time
BIN = os.environ.get("BIN", "target/release")
LAB = os.environ.get("LAB", f"{BIN}/lab")
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 3))
SERVERS = os.environ.get("SERVERS", "lean-server,tokio-server,smol-server").split(",")

def pin(cmd, cpus):
    return ["taskset", "-c", cpus] + cmd


def floor(http, cpus):
    env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(N), LAB_FLOOR_WAIT_MS=str(D_MS), LAB_FLOOR_THREADS="2",
               LAB_FLOOR_HTTP="1" if http else "0")
    server = subprocess.Popen(pin([LAB], cpus), env=dict(env, LAB_FLOOR_ROLE="server"), stdout=subprocess.PIPE,
                              text=True)
    addr = server.stdout.readline().strip().removeprefix("listening on http://")
    out = subprocess.run(pin([LAB], cpus), env=dict(env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr), capture_output=True,
                         text=True).stdout
    server.stdout.read()
    server.wait()
    c = json.loads(out)
    return c["wall_s"], c["failed"], c["user_s"] + c["sys_s"]

def cell(name, client, cpus):
    server = subprocess.Popen(pin([f"{BIN}/{name}", "--port", "0", "--threads", "2", "--quiet", "--hello-ms", str(D_MS),
                               "--max-connections", str(N)], cpus), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
        import resource
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(pin([f"{BIN}/async-client", "--engine", client, "--threads", "2", "--url", url, "-n",
                                  str(N), "-c", str(N), "--warmup", "0", "--keep-alive", "on", "--json"], cpus),
                             capture_output=True, text=True).stdout
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        d = json.loads(out)
        return d["wall_s"], d["failed"], (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
    finally:
        server.terminate(); server.wait()

rows = {}
CPUSETS = os.environ.get("CPUSETS", "0,1;0").split(";")
for r in range(R):
    cells = []
    for cpus in CPUSETS:
        cells += [("floor", cpus, lambda c=cpus: floor(False, c)), ("floor+http", cpus, lambda c=cpus: floor(True, c))]
        for s in SERVERS:
            cells.append((s, cpus, lambda s=s, c=cpus: cell(s, "loop", c)))
    for s, cpus, f in cells:
        w, failed, cpu = f()
        rows.setdefault((s, cpus), []).append(w)
        print(f"round {r+1} {s:13} cpus {cpus:4} wall {w:.3f} s failed {failed} client CPU {cpu*1e6/N:5.1f} µs/conn",
              flush=True)
        time.sleep(float(os.environ.get("PAUSE", 1)))
med = lambda v: sorted(v)[len(v)//2]
print(f"\nmedians over {R} rounds; beyond D = wall - {D_MS / 1000} s; ratio = beyond D on the last cpuset ÷ on the first:")
for s in ["floor", "floor+http"] + SERVERS:
    beyond = [med(rows[(s, c)]) - D_MS / 1000 for c in CPUSETS]
    print(f"{s:13} " + "  ".join(f"cpus {c:4} {b + D_MS / 1000:.3f} s (beyond D {b:.3f})" for c, b in zip(CPUSETS, beyond))
          + f"  ratio {beyond[-1] / beyond[0]:.2f}")
