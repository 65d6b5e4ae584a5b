#!/usr/bin/env python3
"""Reach vs floor, split: what the 0.4 s between the floor (1.22 s) and lean-server / tokio-server (1.63 s) at
10,000 connections (D = 1 s) is made of. Three loads, side by side, alternated, each R times:

  floor        the bench's floor: bare connect / accept / wait D / close, 2 threads a side (lab/src/bench/floor.rs)
  floor+http   the same loop, but the client writes the lean client's request bytes after connecting and reads
               until EOF, and the server reads them and writes a fixed 150-byte response before closing
               (LAB_FLOOR_HTTP=1): HTTP's bytes without a parser, a runtime or a task
  lean-server  lean-server --threads 2 and async-client --engine lean, as `lab bench --parts reach` runs them
  tokio-server the same with tokio-server

For each: wall (client's), CPU of each side (user + sys, from getrusage of the client and /proc/PID/stat of the
server), per connection. Usage: flock /work/coord/bench.lock results/experiments/reach-vs-floor.py target/release
"""
import json, os, resource, subprocess, sys, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release"
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 3))
TICK = os.sysconf("SC_CLK_TCK")


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def proc_cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def floor(http):
    env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(N), LAB_FLOOR_WAIT_MS=str(D_MS), LAB_FLOOR_THREADS="2",
               LAB_FLOOR_HTTP="1" if http else "0")
    server = subprocess.Popen([f"{BIN}/lab"], env=dict(env, LAB_FLOOR_ROLE="server"), stdout=subprocess.PIPE,
                              text=True)
    addr = server.stdout.readline().strip().removeprefix("listening on http://")
    client = subprocess.run([f"{BIN}/lab"], env=dict(env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr),
                            capture_output=True, text=True)
    c = json.loads(client.stdout)
    s = json.loads(server.stdout.read().strip().splitlines()[-1])
    server.wait()
    return c["wall_s"], s["user_s"] + s["sys_s"], c["user_s"] + c["sys_s"], c["failed"]


def http_server(name):
    port = 18500 + os.getpid() % 400
    server = subprocess.Popen([f"{BIN}/{name}", "--port", str(port), "--threads", "2", "--quiet", "--hello-ms",
                               str(D_MS), "--max-connections", str(N)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
    deadline = time.time() + 15
    while subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/health"]).returncode:
        if time.time() > deadline:
            raise SystemExit(f"{name} did not start")
        time.sleep(0.05)
    server_before = proc_cpu(server.pid)
    before = children_cpu()
    out = subprocess.run([f"{BIN}/async-client", "--engine", "lean", "--url", url, "-n", str(N), "-c", str(N),
                          "--warmup", "0", "--keep-alive", "on", "--json"], capture_output=True, text=True)
    client_cpu = children_cpu() - before
    server_cpu = proc_cpu(server.pid) - server_before
    server.terminate()
    server.wait()
    d = json.loads(out.stdout)
    return d["wall_s"], server_cpu, client_cpu, d["failed"]


LOADS = [("floor", lambda: floor(False)), ("floor+http", lambda: floor(True)),
         ("lean-server", lambda: http_server("lean-server")), ("tokio-server", lambda: http_server("tokio-server"))]
rows = {name: [] for name, _ in LOADS}
for r in range(R):
    for name, load in LOADS:
        rows[name].append(load())
        wall, s, c, failed = rows[name][-1]
        print(f"round {r + 1} {name:13} wall {wall:.3f} s  server CPU {s:.2f} s  client CPU {c:.2f} s  failed {failed}",
              flush=True)
print(f"\nmedians over {R} rounds, {N} connections, D = {D_MS} ms:")
print(f"{'load':13} {'wall':>8} {'wall-D':>8} {'server CPU':>11} {'µs/conn':>8} {'client CPU':>11} {'µs/conn':>8}")
for name, _ in LOADS:
    med = lambda i: sorted(x[i] for x in rows[name])[len(rows[name]) // 2]
    wall, s, c = med(0), med(1), med(2)
    print(f"{name:13} {wall:7.3f}s {wall - D_MS / 1000:7.3f}s {s:10.2f}s {s * 1e6 / N:8.0f} {c:10.2f}s {c * 1e6 / N:8.0f}")
