#!/usr/bin/env python3
"""The accept queues in a burst of N connections when server and client do not share CPUs.

On this 2-CPU machine client and server share both CPUs, so a server that falls behind slows the client too:
the accept queue cannot grow faster than the server lets the client run. On a larger machine each has CPUs of
its own. This experiment gives each one CPU of its own (server: taskset -c 0 --threads 1; client: taskset -c 1,
one thread), so the client connects at full speed while the server accepts on its own core, and compares with
the shared placement (--threads 2, no pinning). Per cell: wall (client JSON), the deepest any of the port's
accept queues was (listening rows of /proc/net/tcp, rx_queue, every 2 ms), and the kernel's ListenOverflows and
TCPSynRetrans (/proc/net/netstat) over the cell.

SERVERS entries are names in BIN or label=path.

Usage: flock /work/coord/bench.lock env R=2 N=10000 SERVERS=lean-server,tokio-server,smol-server,async-std-server \
           results/experiments/accept-queue-separated.py
"""
import json, os, subprocess, threading, time
BIN = os.environ.get("BIN", "target/release")
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 2))
SERVERS = os.environ.get("SERVERS", "lean-server,tokio-server,smol-server,async-std-server").split(",")

def netstat():
    lines = open("/proc/net/netstat").read().splitlines()
    out = {}
    for names, values in zip(lines[::2], lines[1::2]):
        out.update(zip(names.split()[1:], map(int, values.split()[1:])))
    return out

def deepest(port):
    depth = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] != "0A":
                break
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                depth = max(depth, int(fields[4].split(":")[1], 16))
    return depth

def cell(name, separated):
    pin_server = ["taskset", "-c", "0"] if separated else []
    pin_client = ["taskset", "-c", "1"] if separated else []
    threads = "1" if separated else "2"
    path = name.split("=", 1)[1] if "=" in name else f"{BIN}/{name}"
    server = subprocess.Popen(pin_server + [path, "--port", "0", "--threads", threads, "--quiet",
                              "--hello-ms", str(D_MS), "--max-connections", str(N)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
        stop, peak = threading.Event(), [0]
        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], deepest(port))
                time.sleep(0.002)
        t = threading.Thread(target=sample); t.start()
        before = netstat()
        out = subprocess.run(pin_client + [f"{BIN}/async-client", "--engine", "loop", "--url", url, "-n", str(N),
                              "-c", str(N), "--warmup", "0", "--keep-alive", "on", "--json"],
                             capture_output=True, text=True).stdout
        after = netstat()
        stop.set(); t.join()
        d = json.loads(out)
        return (d["wall_s"], d["failed"], peak[0], after["ListenOverflows"] - before["ListenOverflows"],
                after["TCPSynRetrans"] - before["TCPSynRetrans"])
    finally:
        server.terminate(); server.wait()

print(f"N = {N}, D = {D_MS} ms, somaxconn = {open('/proc/sys/net/core/somaxconn').read().strip()}")
for r in range(R):
    for name in SERVERS:
        for separated in (False, True):
            w, failed, peak, overflows, retrans = cell(name, separated)
            place = "separated" if separated else "shared"
            print(f"round {r+1} {name:17} {place:9} wall {w:.3f} s failed {failed} deepest queue {peak:5} "
                  f"overflows {overflows} SYN retransmits {retrans}", flush=True)
            time.sleep(1)
