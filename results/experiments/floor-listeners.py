#!/usr/bin/env python3
"""The floor at 10,000 connections (D = 1 s) with 1, 2, 4 and 8 threads a side, each thread with a listening
socket of its own (SO_REUSEPORT), on the same two cores, in alternated rounds: is the floor's time beyond D set by
how many handshakes can run at once (one listener: one at a time), or by something else?

Usage: flock /work/coord/bench.lock results/experiments/floor-listeners.py   (from the workspace root)
"""
import json, os, subprocess, time

LAB = "target/release/lab"
def floor(threads, http=False, n=10000):
    env = dict(os.environ, LAB_FLOOR_CONNECTIONS=str(n), LAB_FLOOR_WAIT_MS="1000", LAB_FLOOR_THREADS=str(threads), LAB_FLOOR_HTTP="1" if http else "0")
    server = subprocess.Popen([LAB], env=dict(env, LAB_FLOOR_ROLE="server"), stdout=subprocess.PIPE, text=True)
    addr = server.stdout.readline().strip().removeprefix("listening on http://")
    out = subprocess.run([LAB], env=dict(env, LAB_FLOOR_ROLE="client", LAB_FLOOR_ADDR=addr), capture_output=True, text=True).stdout
    server.stdout.read(); server.wait()
    c = json.loads(out); return c["wall_s"], c["connect_p99_us"], c["user_s"]+c["sys_s"]
for r in range(3):
    for t in (1, 2, 4, 8):
        w, p99, cpu = floor(t)
        print(f"round {r+1} threads/listeners {t}: wall {w:.3f} s connect p99 {p99} us client cpu {cpu*1e6/10000:.1f} us/conn", flush=True)
        time.sleep(1)
