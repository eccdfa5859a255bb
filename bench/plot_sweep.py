"""plot_sweep.py: the per-size sweep (scripts/bench.sh sweep) as a PNG.

    python3 bench/plot_sweep.py build/bench/sweep.csv docs/sweep.png

The CSV has the columns op,tool,bytes,us: op is "pingpong" (one way) or
"allreduce"; tool e.g. "stdmpi C (region)" or "C MPI"; us the median time of
one operation in microseconds. Two panels, time against size, log-log; the
stdmpi lines solid, their competitors dashed in the same colour family.
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, dst = sys.argv[1], sys.argv[2]
title = sys.argv[3] if len(sys.argv) > 3 else ""
series = defaultdict(list)
for row in csv.DictReader(open(src)):
    series[(row["op"], row["tool"])].append((int(row["bytes"]), float(row["us"])))

ops = [("pingpong", "Ping-pong of N bytes, one way"),
       ("allreduce", "Allreduce (sum) of N bytes of doubles")]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
colors = {"C": "tab:blue", "Python": "tab:orange", "R": "tab:green"}
for ax, (op, label) in zip(axes, ops):
    for (o, tool), pts in sorted(series.items()):
        if o != op:
            continue
        pts.sort()
        lang = "Python" if ("Python" in tool or "mpi4py" in tool) else \
            "R" if ("R " in tool or tool.startswith("Rmpi") or tool.endswith(" R")) else "C"
        ours = tool.startswith("stdmpi")
        style = "-" if ours else "--"
        marker = "x" if "pipes" in tool else "s" if "Alloc_mem" in tool else "o"
        if "pipes" in tool:
            style = ":"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=marker, markersize=3,
                color=colors[lang], label=tool)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("bytes")
    ax.set_ylabel("microseconds (median)")
    ax.set_title(label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
if title:
    fig.suptitle(title, fontsize=9)
fig.tight_layout()
fig.savefig(dst, dpi=110)
print(f"wrote {dst}")
