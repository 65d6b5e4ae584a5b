#!/usr/bin/env python3
"""After SIGKILL of a --processes 2 supervisor, and once every worker is gone from /proc, does anything still accept
connections on the port, and for how long? Run from the workspace root on release builds:
    python3 results/experiments/uring-listener-linger.py target/release/uring-server 40
An io_uring ring is torn down after its process exits, by a kernel work item (io_ring_exit_work) that cancels
the pending multishot accept; until then that request holds the listening socket open."""
import subprocess, socket, time, os, signal, sys, re
def alive(pid):
    try: tids = os.listdir(f"/proc/{pid}/task")
    except OSError: return False
    for t in tids:
        try: st = open(f"/proc/{pid}/task/{t}/stat").read()
        except OSError: continue
        if st[st.rfind(')')+2] not in "ZX": return True
    return False
def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try: st = open(f"/proc/{d}/stat").read()
            except OSError: continue
            if int(st[st.rfind(')')+2:].split()[1]) == pid: out.append(int(d))
    return out
binp = sys.argv[1]; trials = int(sys.argv[2])
lingers = []
for t in range(trials):
    p = subprocess.Popen([binp, "--port", "0", "--processes", "2"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", p.stdout.readline()).group(1))
    for _ in range(200):
        try: s = socket.create_connection(("127.0.0.1", port)); s.close(); break
        except OSError: time.sleep(0.01)
    ws = children(p.pid)
    p.send_signal(signal.SIGKILL); p.wait()
    while any(alive(w) for w in ws): time.sleep(0.001)
    t0 = time.monotonic(); accepted = 0
    while time.monotonic() - t0 < 5:
        try: s = socket.create_connection(("127.0.0.1", port), timeout=0.5); s.close(); accepted += 1; time.sleep(0.002)
        except OSError: break
    lingers.append((accepted, (time.monotonic()-t0)*1000))
bad = [l for l in lingers if l[0]]
print(f"{os.path.basename(binp)} --processes 2, after every worker is gone from /proc: {len(bad)}/{trials} still accepted; lingers ms: {sorted(round(l[1],1) for l in bad)}")
