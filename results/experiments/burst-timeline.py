#!/usr/bin/env python3
"""What each thread of both sides is doing during the 10,000-connection burst (D = 1 s), over time.

The question: the burst's wall is D + 0.4 s against lean-server while the floor's is D + 0.2 s, and the bench's
whole-cell CPU accounting cannot say whether a side was saturated, or when. Hypothesis H (the CPU bound): during
the setup phase (every connect, accept and request) and the answer phase (every response, read and close) both
sides' threads want a CPU all the time, so the wall beyond D is the CPU work of those phases over the 2 cores.
It is refuted if, in either phase, some busy thread spends a large share of its time asleep (neither running nor
waiting for a CPU) while the phase is still going: then something other than CPU serialises the work (a lock,
a wakeup hand-off, a queue), and that thread names it.

Method: every SAMPLE_MS, /proc/PID/task/TID/schedstat of every thread of the server and the client: time on a
CPU and time runnable but waiting for one (the run queue delay), so a thread's state is measured even on a
shared machine where other work competes: "running + waiting" is how much of the time it wanted a CPU. Progress
from /proc/net/sockstat (machine-wide, cheap at 10,000 sockets): TCP sockets in use (2 per open loopback
connection) and in TIME_WAIT (closed by the client).

Cells: the floor (lab's own floor, with HTTP's bytes: LAB_FLOOR_HTTP=1) and each SERVERS entry started fresh on
--port 0 with --threads 2; the client is async-client --engine lean -n N -c N --warmup 0 --keep-alive on, as
`lab bench --parts reach` runs it.

Usage: results/experiments/burst-timeline.py target/release      (env: N, SERVERS, SAMPLE_MS, BIN_MS)
"""
import json, os, subprocess, sys, threading, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release"
N, D_MS = int(os.environ.get("N", 10000)), 1000
SERVERS = os.environ.get("SERVERS", "lean-server,tokio-server").split(",")
SAMPLE_S = int(os.environ.get("SAMPLE_MS", 10)) / 1000
BIN_S = int(os.environ.get("BIN_MS", 50)) / 1000


def threads_of(pid):
    """{tid: (name, run_ns, wait_ns)} for every thread of pid (absent threads are skipped)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns, _ = (int(x) for x in f.read().split())
            out[int(tid)] = (name, run_ns, wait_ns)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return out


def sockstat():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                values = dict(zip(fields[1::2], (int(v) for v in fields[2::2])))
                return values["inuse"], values["tw"]
    return 0, 0


def sample(pids, stop, samples):
    """Appends (t, sockstat, {side: threads}) every SAMPLE_S until stop is set; pids is {side: pid or None}."""
    while not stop.is_set():
        t = time.monotonic()
        samples.append((t, sockstat(), {side: threads_of(pid) for side, pid in pids.items() if pid}))
        time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - t)))


def report(label, samples, t0, wall):
    """Per BIN_S bin: progress, and each thread that ran at all: % of the bin running / waiting for a CPU."""
    first = {}
    busy = {}  # (side, tid) -> name, total run ns
    for _, _, sides in samples:
        for side, threads in sides.items():
            for tid, (name, run, _) in threads.items():
                first.setdefault((side, tid), run)
                busy[(side, tid)] = (name, run - first[(side, tid)])
    # Threads that used at least 2 % of the wall.
    keys = sorted((k for k, (_, run) in busy.items() if run > 0.02 * wall * 1e9), key=lambda k: (k[0], busy[k][0]))
    print(f"\n== {label}: wall {wall:.3f} s; threads shown: {', '.join(f'{s}:{busy[k][0]}' for k in keys for s in [k[0]])}")
    print("   columns per thread: run% / wait-for-CPU% of the bin (100/0 = on a CPU all bin; 0/0 = asleep)")
    print(f"{'t (ms)':>7} {'inuse':>6} {'tw':>6}  " + "  ".join(f"{k[0][:1]}:{busy[k][0][:10]:>10}" for k in keys))
    bins = []
    edge = t0
    previous = samples[0]
    for s in samples[1:]:
        if s[0] - edge >= BIN_S or s is samples[-1]:
            bins.append((previous, s))
            previous, edge = s, s[0]
    for a, b in bins:
        dt = (b[0] - a[0]) * 1e9
        cols = []
        for side, tid in keys:
            ta, tb = a[2].get(side, {}).get(tid), b[2].get(side, {}).get(tid)
            if ta and tb:
                cols.append(f"{(tb[1] - ta[1]) / dt * 100:5.0f}/{(tb[2] - ta[2]) / dt * 100:<5.0f}")
            else:
                cols.append(f"{'-':>11}")
        print(f"{(a[0] - t0) * 1000:7.0f} {b[1][0]:6d} {b[1][1]:6d}  " + "  ".join(f"{c:>12}" for c in cols))


def run_cell(label, server_cmd, server_env, client_for):
    """client_for(addr) -> (command, environment or None)."""
    server = subprocess.Popen(server_cmd, env=server_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        addr = server.stdout.readline().strip().removeprefix("listening on http://")
        stop, samples = threading.Event(), []
        pids = {"server": server.pid, "client": None}
        sampler = threading.Thread(target=sample, args=(pids, stop, samples))
        t0 = time.monotonic()
        client_cmd, client_env = client_for(addr)
        client = subprocess.Popen(client_cmd, env=client_env, stdout=subprocess.PIPE, text=True)
        pids["client"] = client.pid
        sampler.start()
        out, _ = client.communicate()
        stop.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait()
    d = json.loads(out)
    report(label, samples, t0, d["wall_s"])
    return d


def main():
    floor_env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(N), LAB_FLOOR_WAIT_MS=str(D_MS), LAB_FLOOR_THREADS="2",
                     LAB_FLOOR_HTTP="1")
    run_cell("floor+http", [f"{BIN}/lab"], dict(floor_env, LAB_FLOOR_ROLE="server"),
             lambda addr: ([f"{BIN}/lab"], dict(floor_env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr)))
    for name in SERVERS:
        run_cell(name, [f"{BIN}/{name}", "--port", "0", "--threads", "2", "--quiet", "--hello-ms", str(D_MS),
                        "--max-connections", str(N)], None,
                 lambda addr: ([os.environ.get("CLIENT", f"{BIN}/async-client"), "--engine", "lean", "--url",
                                f"http://{addr}/say/hello?name=lab&ms={D_MS}", "-n", str(N), "-c", str(N),
                                "--warmup", "0", "--keep-alive", "on", "--json"], None))


if __name__ == "__main__":
    main()
