#!/usr/bin/env python3
"""What a fresh process's descriptor table costs a 10,000-connection burst (D = 1 s): `lab bench --parts reach`
at 10,000 with every process's table reserved before the burst (the default: harness::limits::
reserve_descriptors in the servers, the clients and the floor) and with LAB_RESERVE_DESCRIPTORS=0 (the table
grows by doubling while the connections arrive), alternated in rounds. Each run is one round of the floors and
the four async servers.

Usage: flock /work/coord/bench.lock env R=2 results/experiments/fd-table.py   (from the workspace root, after
       cargo build --release)
"""
import glob, json, os, subprocess, tempfile

R = int(os.environ.get("R", 2))
SERVERS = "lean-server,tokio-server,smol-server,async-std-server"
for r in range(R):
    for reserve in ("0", "1"):
        out = tempfile.mkdtemp(prefix="fd-table-")
        env = dict(os.environ, LAB_RESERVE_DESCRIPTORS=reserve)
        subprocess.run(["target/release/lab", "bench", "--parts", "reach", "--servers", SERVERS, "--reach-levels",
                        "10000", "--reach-no-fd-max", "--reach-rounds", "1", "--bin-dir", "target/release",
                        "--out", out], env=env, capture_output=True, check=True)
        part = json.load(open(glob.glob(f"{out}/bench-*.json")[0]))["reach"]
        floor, http = part["floors"][0], part["http_floors"][0]
        cells = " ".join(f"{c['server']} {c['wall_s']:.3f}" for c in part["cells"])
        print(f"round {r + 1} reserved={reserve}: floor {floor['wall_s']:.3f} s (connect max "
              f"{floor['connect_max_us'] / 1000:.1f} ms), with HTTP's bytes {http['wall_s']:.3f} s; {cells}",
              flush=True)
