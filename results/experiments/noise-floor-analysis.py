#!/usr/bin/env python3
"""Why two back-to-back default runs called 15 of 168 cells different: chance, or drift between runs?

Reads two committed matrix runs (every repetition is in their JSON) and measures, per throughput cell:
  within  = (max - min) / median of one run's repetitions (the larger of the two runs),
  between = |median A - median B| / the smaller median.
Hypothesis under test: "the machine drifts more between runs than within one, so the ranges of 3 repetitions are
too narrow for a comparison across runs". It predicts between > within for most of the cells called different,
and more disjoint pairs than chance gives. Chance alone: two samples of R from one distribution have disjoint
ranges with probability 2 / C(2R, R) (10 % at R = 3). Usage: noise-floor-analysis.py A.json B.json
"""
import json, math, statistics as st, sys
from math import comb

a, b = (json.load(open(p)) for p in sys.argv[1:3])
cells_b = {c["id"]: c for c in b["cells"]}
rows = []
for ca in a["cells"]:
    cb = cells_b.get(ca["id"])
    if not cb or ca["status"] != "ok" or cb["status"] != "ok":
        continue
    # io and blocking are judged by wall time, the others by throughput (lab::noise::Metric).
    key = "wall_s" if ca["workload"] in ("io", "blocking") else "throughput_rps"
    ta = sorted(r[key] for r in ca["runs"]); tb = sorted(r[key] for r in cb["runs"])
    ma, mb = st.median(ta), st.median(tb)
    disjoint = ta[-1] < tb[0] or tb[-1] < ta[0]
    effect = max(ma, mb) / min(ma, mb) >= 1.05
    within = max((ta[-1] - ta[0]) / ma, (tb[-1] - tb[0]) / mb)
    between = abs(ma - mb) / min(ma, mb)
    rows.append(dict(id=ca["id"], workload=ca["workload"], r=len(ta), disjoint=disjoint, called=disjoint and effect,
                     within=within, between=between, ratio=ma / mb))

n = len(rows)
r = rows[0]["r"]
chance = 2 / comb(2 * r, r)
print(f"runs: {a['run_id']} (A) vs {b['run_id']} (B); {n} cells compared, {r} repetitions each")
print(f"disjoint ranges: {sum(x['disjoint'] for x in rows)} of {n} ({100*sum(x['disjoint'] for x in rows)/n:.1f} %); "
      f"chance alone at R = {r}: {100*chance:.1f} % ({chance*n:.1f} cells)")
print(f"called different (disjoint and >= 5 % apart): {sum(x['called'] for x in rows)} of {n} "
      f"({100*sum(x['called'] for x in rows)/n:.1f} %)")
for label, sel in [("all", rows)] + [(w, [x for x in rows if x["workload"] == w])
                                     for w in ("io", "blocking", "baseline", "cpu", "db", "mixed")]:
    if not sel:
        continue
    geo = math.exp(st.mean(math.log(x["ratio"]) for x in sel))
    print(f"{label:9s} cells {len(sel):3d}  median within-run range {100*st.median(x['within'] for x in sel):5.1f} %  "
          f"median between-run difference {100*st.median(x['between'] for x in sel):5.1f} %  "
          f"between > within in {sum(x['between'] > x['within'] for x in sel):2d}  "
          f"geometric mean A/B {geo:.3f}  disjoint {sum(x['disjoint'] for x in sel)}  called different {sum(x['called'] for x in sel)}")
print("cells called different:")
for x in rows:
    if x["called"]:
        print(f"  {x['id']:55s} A/B {x['ratio']:.2f}  within {100*x['within']:.0f} %  between {100*x['between']:.0f} %")
