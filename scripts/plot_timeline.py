"""Plots a load tool timeline (CSV from `load --timeline`, or a fault run's) as a PNG: p95 and
p99 latency per operation over time (`job` is submit→completed); requests, jobs completed and
client errors per second; the server's resident memory, open descriptors and open sockets
when they were sampled; and the backlog of accepted jobs not yet completed. Spans listed in `TIMELINE.csv.faults`
(`from_seconds,to_seconds,label` per line, written by the fault runs) are shaded.

    python plot_timeline.py TIMELINE.csv OUT.png "title"
"""
import csv
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SHADES = ["tab:red", "tab:orange", "tab:purple", "tab:green"]


def read_faults(path):
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        rows = [line.strip().split(",", 2) for line in handle if line.strip()]
    return [(float(start), float(end), label) for start, end, label in rows]


def main() -> None:
    source, target, title = sys.argv[1], sys.argv[2], sys.argv[3]
    series = defaultdict(lambda: defaultdict(list))
    memory, files, sockets, backlog = {}, {}, {}, {}
    with open(source, newline="") as handle:
        for row in csv.DictReader(handle):
            at = float(row["seconds"])
            answered = float(row["requests"]) - float(row["errors"])
            for column in ("p95_ms", "p99_ms", "requests", "errors"):
                value = float(row[column])
                # No request answered in the window: no latency to draw (a gap, not a zero).
                if column.endswith("_ms") and answered == 0:
                    value = float("nan")
                series[row["operation"]][column].append((at, value))
            if row["rss_kib"]:
                memory[at] = int(row["rss_kib"]) / 1024
            if row["open_files"]:
                files[at] = int(row["open_files"])
            if row.get("open_sockets"):
                sockets[at] = int(row["open_sockets"])
            if row.get("backlog"):
                backlog[at] = int(row["backlog"])
    ends = sorted({at for columns in series.values() for at, _ in columns["requests"]})
    # A window where an operation has no row at all: a gap in its latency, zero requests.
    for columns in series.values():
        present = {at for at, _ in columns["requests"]}
        for at in ends:
            if at not in present:
                for column in ("p95_ms", "p99_ms"):
                    columns[column].append((at, float("nan")))
                for column in ("requests", "errors"):
                    columns[column].append((at, 0.0))
        for column in columns:
            columns[column].sort()
    window = ends[1] - ends[0] if len(ends) > 1 else (ends[0] if ends else 1.0)
    faults = read_faults(source + ".faults")
    panels = 2 + (1 if memory or files else 0) + (1 if backlog else 0)
    figure, axes = plt.subplots(panels, 1, figsize=(10, 3 * panels + 1), sharex=True)
    latency, traffic = axes[0], axes[1]
    for operation, columns in sorted(series.items()):
        xs, ys = zip(*columns["p95_ms"])
        line = latency.plot(xs, ys, label=f"{operation} p95")[0]
        xs, ys = zip(*columns["p99_ms"])
        latency.plot(xs, ys, linestyle=":", color=line.get_color(), label=f"{operation} p99")
        xs, ys = zip(*columns["requests"])
        traffic.plot(xs, [y / window for y in ys], color=line.get_color(), label=f"{operation}/s")
        xs, ys = zip(*columns["errors"])
        if any(ys):
            traffic.plot(xs, [y / window for y in ys], color=line.get_color(), linestyle="--",
                         marker="x", label=f"{operation} errors/s")
    latency.set_ylabel("latency (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper left", fontsize="small", ncol=3)
    latency.grid(True, which="both", alpha=0.3)
    latency.set_title(title)
    traffic.set_ylabel("per second")
    traffic.legend(loc="upper left", fontsize="small", ncol=3)
    traffic.grid(True, alpha=0.3)
    if backlog:
        waiting = axes[-1]
        xs = sorted(backlog)
        waiting.plot(xs, [backlog[x] for x in xs], color="tab:brown",
                     label="backlog: jobs accepted, not completed")
        waiting.set_ylabel("jobs waiting")
        waiting.legend(loc="upper left", fontsize="small")
        waiting.grid(True, alpha=0.3)
    if memory or files:
        usage = axes[2]
        if memory:
            xs = sorted(memory)
            usage.plot(xs, [memory[x] for x in xs], color="tab:red", label="RSS (MiB)")
            usage.set_ylabel("RSS (MiB)")
        if files:
            other = usage.twinx()
            xs = sorted(files)
            other.plot(xs, [files[x] for x in xs], color="tab:blue", label="open descriptors")
            if sockets:
                xs = sorted(sockets)
                other.plot(xs, [sockets[x] for x in xs], color="tab:cyan",
                           label="of which sockets")
            other.set_ylabel("open descriptors / sockets")
            other.legend(loc="lower right", fontsize="small")
            usage.legend(loc="upper left", fontsize="small")
        usage.grid(True, alpha=0.3)
    for number, (start, end, label) in enumerate(faults):
        for axis in axes:
            axis.axvspan(start, end, color=SHADES[number % len(SHADES)], alpha=0.15,
                         label=label if axis is traffic else None)
    if faults:
        traffic.legend(loc="upper left", fontsize="small", ncol=3)
    axes[-1].set_xlabel("seconds into the run (each point: the window ending there)")
    figure.tight_layout()
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main()
