#!/usr/bin/env python3
"""The lean client's cost in the 10,000-connection burst (D = 1 s): where its CPU goes, counted per connection.

Each cell runs one async-client --engine lean burst (-n N -c N --warmup 0, as `lab bench --parts reach`)
against a server started fresh (--threads 2), under `perf stat`, which counts without slowing the client much:
task-clock (CPU), context switches and the kernel's syscall tracepoints (every syscall, and the ones the
hypotheses are about). The floor's client (lab/src/bench/floor.rs with LAB_FLOOR_HTTP=1: connect, write the
request bytes, read to EOF, close — no runtime) is measured the same way against the floor's server.

Clients: every `CLIENTS` entry is name=path of an async-client binary, so that a build before a change and one
after it run side by side, alternated, in the same rounds. Servers: `SERVERS` (default lean-server,tokio-server).

Every server is started on a free port (--port 0), so no cell's connects meet the previous cell's 10,000
connections in TIME_WAIT towards the same address. TW=1 runs the experiment about exactly that instead: two
cells in a row on one fixed port, in both orders (see the TW block below).

Usage:
  flock /work/coord/bench.lock env CLIENTS=before=/tmp/ac-before,after=target/release/async-client \
      results/experiments/lean-client-burst.py target/release
  flock /work/coord/bench.lock env TW=1 R=2 CLIENTS=after=target/release/async-client \
      results/experiments/lean-client-burst.py target/release
Syscall counts are noise-free; CPU and wall figures are from a shared machine.
"""
import json, os, resource, subprocess, sys, tempfile

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release"
N, D_MS, R = int(os.environ.get("N", 10000)), 1000, int(os.environ.get("R", 3))
CLIENTS = [c.split("=", 1) for c in os.environ.get("CLIENTS", f"current={BIN}/async-client").split(",")]
SERVERS = os.environ.get("SERVERS", "lean-server,tokio-server").split(",")
SYSCALLS = ["epoll_wait", "epoll_pwait", "epoll_ctl", "read", "recvfrom", "write", "sendto", "connect", "futex",
            "socket", "close", "getsockopt", "setsockopt", "ioctl"]
EVENTS = ["task-clock", "context-switches", "page-faults", "raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]


def perf_stat(cmd, env=None):
    """Runs cmd under perf stat; returns (its stdout, {event: count})."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        p = subprocess.run(["perf", "stat", "-x,", "-o", out.name, "-e", ",".join(EVENTS), "--"] + cmd,
                           capture_output=True, text=True, env=env)
        counts = {}
        for line in out.read().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] in EVENTS:
                counts[fields[2]] = float(fields[0]) if fields[0] not in ("<not counted>", "") else 0.0
    return p.stdout, counts


def floor_cell():
    env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(N), LAB_FLOOR_WAIT_MS=str(D_MS), LAB_FLOOR_THREADS="2",
               LAB_FLOOR_HTTP="1")
    server = subprocess.Popen([f"{BIN}/lab"], env=dict(env, LAB_FLOOR_ROLE="server"), stdout=subprocess.PIPE,
                              text=True)
    addr = server.stdout.readline().strip().removeprefix("listening on http://")
    out, counts = perf_stat([f"{BIN}/lab"], env=dict(env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr))
    server.stdout.read()
    server.wait()
    c = json.loads(out)
    return c["wall_s"], c["failed"], counts


def time_wait_to(port):
    """Sockets in TIME_WAIT towards 127.0.0.1:port (left by earlier cells' closes)."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait", "dst", f"127.0.0.1:{port}"], capture_output=True,
                         text=True).stdout
    return len(out.splitlines())


def http_cell(server_name, client, port=0):
    """One burst against a fresh server on `port` (0: a free port, so no earlier cell's TIME_WAIT sockets share
    the destination). Returns (wall, failed, counts); counts has the client's user/sys seconds from getrusage."""
    server = subprocess.Popen([f"{BIN}/{server_name}", "--port", str(port), "--threads", "2", "--quiet",
                               "--hello-ms", str(D_MS), "--max-connections", str(N)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        waiting = time_wait_to(port)
        url = f"http://127.0.0.1:{port}/say/hello?name=lab&ms={D_MS}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out, counts = perf_stat([client, "--engine", "lean", "--url", url, "-n", str(N), "-c", str(N),
                                 "--warmup", "0", "--keep-alive", "on", "--json"])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        server.terminate()
        server.wait()
    d = json.loads(out)
    counts.update(user_s=after.ru_utime - before.ru_utime, sys_s=after.ru_stime - before.ru_stime,
                  time_wait=waiting, rss_kib=d["cost"]["peak_rss_kib"])
    return d["wall_s"], d["failed"], counts


if os.environ.get("TW"):
    # The TIME_WAIT experiment: two cells in a row on one fixed server port, in both orders, each pair on a port
    # of its own; the second cell of a pair connects while the first cell's 10,000 closed connections to the
    # same address are in TIME_WAIT. Hypothesis: the client's connect() then searches the ephemeral ports for a
    # usable 4-tuple, and the second cell pays for it whatever the server. Refuted if the second cell's client
    # CPU is no higher than the first's, or if the cost follows the server (tokio-server) and not the position.
    client = CLIENTS[-1][1]
    print(f"TIME_WAIT experiment, client {client}, {N} connections, D = {D_MS} ms")
    for r in range(R):
        for order in (("lean-server", "tokio-server"), ("tokio-server", "lean-server")):
            port = 19100 + 10 * r + (order[0] == "tokio-server")
            for position, server_name in enumerate(order, 1):
                wall, failed, c = http_cell(server_name, client, port)
                print(f"round {r + 1} port {port} cell {position} {server_name:13} TIME_WAIT to port before "
                      f"{c['time_wait']:6d}  wall {wall:.3f} s  failed {failed}  client CPU "
                      f"{c['task-clock'] * 1e3 / N:6.1f} µs/conn (user {c['user_s'] * 1e6 / N:5.1f}, sys "
                      f"{c['sys_s'] * 1e6 / N:5.1f})", flush=True)
    sys.exit(0)


cells = [("floor+http", "lab floor client", floor_cell)]
for server_name in SERVERS:
    for client_name, path in CLIENTS:
        cells.append((server_name, client_name, lambda s=server_name, p=path: http_cell(s, p)))

rows = {(s, c): [] for s, c, _ in cells}
for r in range(R):
    for server_name, client_name, run in cells:
        wall, failed, counts = run()
        rows[(server_name, client_name)].append((wall, failed, counts))
        print(f"round {r + 1} {server_name:13} {client_name:17} wall {wall:.3f} s  failed {failed}  client CPU "
              f"{counts.get('task-clock', 0) * 1e3 / N:6.1f} µs/conn  syscalls "
              f"{counts.get('raw_syscalls:sys_enter', 0) / N:5.1f}/conn"
              + (f"  peak RSS {counts['rss_kib'] / 1024:.0f} MiB" if "rss_kib" in counts else ""),
              flush=True)


def med(values):
    values = sorted(values)
    return values[len(values) // 2]


print(f"\nmedians over {R} rounds, {N} connections, D = {D_MS} ms; per connection (client side only; faults = page"
      " faults, the rest syscalls):")
columns = ["task-clock", "context-switches", "page-faults", "raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]
short = ["CPU µs", "ctxsw", "faults", "syscalls"] + SYSCALLS
print(f"{'server':13} {'client':17} {'wall':>6} " + " ".join(f"{s:>10}" for s in short))
for (server_name, client_name), runs in rows.items():
    wall = med(w for w, _, _ in runs)
    values = []
    for column in columns:
        v = med(c.get(column, 0.0) for _, _, c in runs) / N
        values.append(v * 1e3 if column == "task-clock" else v)  # perf reports task-clock in ms
    print(f"{server_name:13} {client_name:17} {wall:6.3f} " + " ".join(f"{v:10.2f}" for v in values))
