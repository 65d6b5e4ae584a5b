#!/usr/bin/env python3
"""Experiment: does connect(2) get slower per call as one client's connections to ONE address pass half the
ephemeral port range? Opens N connections to a local listener (a thread accepts and holds them), timing each
batch of 1,000 connects (process CPU time, user+sys, and wall). With --spread, connections from the second
half bind their source address to 127.0.0.2 (a different port space): if the slowdown is the port search, it
vanishes there."""
import os, socket, sys, threading, time, resource

n = int(sys.argv[1]); spread = "--spread" in sys.argv
lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 0)); srv.listen(4096); port = srv.getsockname()[1]
if os.fork() == 0:  # the server side, a process of its own (each side needs n descriptors)
    held = []
    while len(held) < n:
        c, _ = srv.accept(); held.append(c)
    time.sleep(2); os._exit(0)
srv.close()
conns = []; rows = []
def cpu():
    r = resource.getrusage(resource.RUSAGE_THREAD); return r.ru_utime + r.ru_stime
for batch in range(n // 1000):
    c0, w0 = cpu(), time.perf_counter()
    for i in range(1000):
        s = socket.socket()
        if spread and len(conns) >= (hi - lo + 1) // 2 - 2000:
            s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port)); conns.append(s)
    rows.append((len(conns), (cpu() - c0) * 1e3, (time.perf_counter() - w0) * 1e3))
tw = [l for l in open("/proc/net/sockstat") if l.startswith("TCP:")][0].strip()
os.wait()
print(f"port range {lo}-{hi} ({hi-lo+1} ports), spread={spread}, {tw}")
for k, c, w in rows:
    print(f"connections {k:6d}: this thread's CPU per connect {c:6.1f} us, wall {w:6.1f} us")
