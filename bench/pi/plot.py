"""Plots the pi speedup study: speedup against ranks, one line per language
and tool, and the ideal line.  python3 plot.py pi.csv pi_speedup.png

pi.csv columns: language,tool,ranks,seconds,serial_seconds
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
lines = defaultdict(list)
for r in rows:
    lines[(r["language"], r["tool"])].append(
        (int(r["ranks"]), float(r["serial_seconds"]) / float(r["seconds"])))
fig, ax = plt.subplots(figsize=(7, 5))
top = max(n for pts in lines.values() for n, _ in pts)
ax.plot([1, top], [1, top], "k:", label="ideal")
colors = {}
for (lang, tool), pts in sorted(lines.items()):
    pts.sort()
    color = colors.setdefault(lang, f"C{len(colors)}")  # one color a language
    ax.plot([n for n, _ in pts], [s for _, s in pts], "-" if tool == "stdmpi" else "--",
            marker="o" if tool == "stdmpi" else "s", color=color, label=f"{lang}, {tool}")
ax.set_xlabel("ranks")
ax.set_ylabel("speedup over the serial program")
ax.set_title("Nilakantha pi: speedup (wall time, median of runs)")
ax.legend(fontsize=8, title="solid: stdmpi, dashed: competitor", title_fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
