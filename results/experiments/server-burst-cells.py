#!/usr/bin/env python3
"""Server binaries side by side in the 10,000-connection burst (D = 1 s), alternated in rounds.

Each cell starts a fresh server (--port 0 --threads 2), runs one burst with the loop client
(-n N -c N --warmup 0), and reads the client's wall from its JSON and the server's CPU and minor page
faults from /proc/<pid>/stat (proc(5): minflt, utime, stime) after the burst.

CELLS is `label=binary[,VAR=value...]` joined by `;`. VAR=value pairs go to the server's environment, except
SAMPLER, which runs a reader beside the burst as the lab's accept-queue sampler did: the first 8 KiB of
/proc/net/tcp (SAMPLER=tcp) or of /proc/net/tcp and /proc/net/tcp6 (SAMPLER=tcp6), every 5 ms.

Usage: flock /work/coord/bench.lock env R=3 CELLS="old=/tmp/old/smol-server;new=target/release/smol-server" \
           results/experiments/server-burst-cells.py
"""
import json, os, subprocess, sys, threading, time
BIN = os.environ.get("BIN", "target/release")
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 3))
TCK = os.sysconf("SC_CLK_TCK")
CELLS = [c.split("=", 1) for c in os.environ["CELLS"].split(";")]  # label=binary[,ENV=V...]

def cell(spec):
    binary, *envs = spec.split(",")
    envs = dict(e.split("=", 1) for e in envs)
    sampler = envs.pop("SAMPLER", "none")
    env = dict(os.environ, **envs)
    server = subprocess.Popen([binary, "--port", "0", "--threads", "2", "--quiet", "--hello-ms", str(D_MS),
                               "--max-connections", str(N)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
        stop = threading.Event()
        def sample():
            # As the lab's QueueSampler: the first 8 KiB of each table, every 5 ms.
            while not stop.is_set():
                for path in {"tcp": ["/proc/net/tcp"], "tcp6": ["/proc/net/tcp", "/proc/net/tcp6"]}.get(sampler, []):
                    with open(path, "rb", buffering=0) as f:
                        f.read(8192)
                time.sleep(0.005)
        t = threading.Thread(target=sample); t.start()
        out = subprocess.run([f"{BIN}/async-client", "--engine", "loop", "--url", url, "-n", str(N), "-c", str(N),
                              "--warmup", "0", "--keep-alive", "on", "--json"], capture_output=True, text=True).stdout
        stop.set(); t.join()
        st = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
        minflt, cpu = int(st[7]), (int(st[11]) + int(st[12])) / TCK
        d = json.loads(out)
        return d["wall_s"], d["failed"], cpu, minflt
    finally:
        server.terminate(); server.wait()

rows = {}
for r in range(R):
    for label, spec in CELLS:
        w, failed, cpu, flt = cell(spec)
        rows.setdefault(label, []).append((w, cpu, flt))
        print(f"round {r+1} {label:22} wall {w:.3f} s failed {failed} server CPU {cpu*1e6/N:5.1f} µs/conn "
              f"faults {flt/N:5.2f}/conn", flush=True)
        time.sleep(1)
med = lambda v: sorted(v)[len(v)//2]
print("\nmedians:")
for label, v in rows.items():
    print(f"{label:22} wall {med([x[0] for x in v]):.3f} s  CPU {med([x[1] for x in v])*1e6/N:5.1f} µs/conn  "
          f"faults {med([x[2] for x in v])/N:5.2f}/conn   walls: {' '.join(f'{x[0]:.3f}' for x in v)}")
