"""Plots a load tool timeline (CSV from `load --timeline`) as a PNG: p95 and p99 latency per
operation over time, and the server's resident memory and open files beside it.

    python plot_timeline.py TIMELINE.csv OUT.png "title"
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    source, target, title = sys.argv[1], sys.argv[2], sys.argv[3]
    series = defaultdict(lambda: defaultdict(list))
    memory, files = {}, {}
    with open(source, newline="") as handle:
        for row in csv.DictReader(handle):
            at = float(row["seconds"])
            for column in ("p95_ms", "p99_ms", "requests", "errors"):
                series[row["operation"]][column].append((at, float(row[column])))
            if row["rss_kib"]:
                memory[at] = int(row["rss_kib"]) / 1024
            if row["open_files"]:
                files[at] = int(row["open_files"])
    figure, (latency, usage) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for operation, columns in sorted(series.items()):
        xs, ys = zip(*columns["p95_ms"])
        latency.plot(xs, ys, label=f"{operation} p95")
        xs, ys = zip(*columns["p99_ms"])
        latency.plot(xs, ys, linestyle=":", label=f"{operation} p99")
    latency.set_ylabel("latency (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper left", fontsize="small", ncol=3)
    latency.grid(True, which="both", alpha=0.3)
    latency.set_title(title)
    if memory:
        xs = sorted(memory)
        usage.plot(xs, [memory[x] for x in xs], color="tab:red", label="RSS (MiB)")
        usage.set_ylabel("RSS (MiB)")
    if files:
        other = usage.twinx()
        xs = sorted(files)
        other.plot(xs, [files[x] for x in xs], color="tab:blue", label="open files")
        other.set_ylabel("open files")
    usage.set_xlabel("seconds into the run")
    usage.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main()
