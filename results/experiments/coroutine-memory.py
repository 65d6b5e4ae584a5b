#!/usr/bin/env python3
"""Where coroutine-server's memory per in-flight connection goes, against thread-server's.

For each server binary given, start it pinned to CPU 0 (--threads 1, /say/hello waiting 60 s), open N
connections that each send one /say/hello and wait, and once the server's RSS has stopped growing read
/proc/<pid>/smaps: the resident memory of the mappings that hold stacks (may's coroutine stacks: anonymous
mappings of at most 256 KiB; thread stacks: the mappings of [stack size + guard]) and of everything else. Kernel
memory per connection is /proc/meminfo's KernelStack + Slab, machine-wide (so the client's sockets count too, the
same for every server). Each figure is a least-squares slope over N in LEVELS, in KiB per connection.

usage: coroutine-memory.py LABEL=BINARY ...   (run from the workspace root, release builds)
"""
import os, re, socket, subprocess, sys, time

LEVELS = [250, 500, 1000, 1500]
SMALL_MAPPING = 256 * 1024


def meminfo():
    out = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":")
        out[k] = int(v.split()[0])
    return out["KernelStack"] + out["Slab"]


def smaps(pid):
    """(stack-like KiB, other KiB): Rss of anonymous mappings of at most 256 KiB or with a guard page before
    them, and of the rest."""
    small = other = 0
    size = rss = 0
    name = ""
    def flush():
        nonlocal small, other
        if size == 0:
            return
        if name == "" and size * 1024 <= SMALL_MAPPING:
            small += rss
        else:
            other += rss
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
        if m:
            flush()
            size, rss, name = 0, 0, m.group(3).strip()
        elif line.startswith("Size:"):
            size = int(line.split()[1])
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
    flush()
    return small, other


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def settle(pid):
    last, stable = -1, 0
    while stable < 5:
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))
        stable = stable + 1 if rss == last else 0
        last = rss
        time.sleep(0.1)


def measure(binary, n):
    one_thread = ["--threads", "1"] if "coroutine" in binary else []
    p = subprocess.Popen(["taskset", "-c", "0", binary, "--port", "0", "--quiet", *one_thread,
                          "--hello-ms", "60000", "--max-connections", "100000"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))
    pid = p.pid
    settle(pid)
    k0, (s0, o0), t0 = meminfo(), smaps(pid), threads(pid)
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /say/hello?name=x HTTP/1.1\r\nHost: lab\r\n\r\n")
        conns.append(s)
    settle(pid)
    k1, (s1, o1), t1 = meminfo(), smaps(pid), threads(pid)
    for s in conns:
        s.close()
    p.kill()
    p.wait()
    return {"stack": s1 - s0, "other": o1 - o0, "kernel": k1 - k0, "threads": t1 - t0}


def slope(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main():
    print(f"levels {LEVELS}; KiB per in-flight connection (least-squares slope)")
    print(f"{'server':<28} {'stack-like RSS':>14} {'other RSS':>10} {'kernel':>8} {'total':>8} {'threads/conn':>13}")
    for spec in sys.argv[1:]:
        label, binary = spec.split("=", 1)
        rows = [measure(binary, n) for n in LEVELS]
        f = {k: slope(LEVELS, [r[k] for r in rows]) for k in rows[0]}
        total = f["stack"] + f["other"] + f["kernel"]
        print(f"{label:<28} {f['stack']:>14.2f} {f['other']:>10.2f} {f['kernel']:>8.2f} {total:>8.2f} {f['threads']:>13.2f}")


main()
