#!/usr/bin/env python3
"""Where the CPU goes while a benchmark runs: per process, time running,
time runnable but waiting for a CPU, and context switches; and how idle the
machine is.

Samples /proc/PID/task/*/schedstat of every process whose name matches, and
the first line of /proc/stat, every --every seconds, while COMMAND runs;
then prints, per process, the medians over the intervals in which it used
more than a fifth of a core, and the machine's idle share while toolgate
was busy and otherwise.

    python3 benches/tools/schedstat.py -- cargo bench --bench proxy -- --only calls

It reads only /proc (Linux); the sampling costs a few percent of one core.
"""

import argparse
import collections
import os
import statistics
import subprocess
import sys
import threading
import time

NAMES = ("node", "toolgate", "proxy-", "peers-", "tokio")


def processes(names):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith(names):
            yield pid, comm


def schedstat(pid):
    """(running ns, waiting ns, switches) summed over the threads of pid."""
    run = wait = switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            r, w, n = f.read().split()[:3]
        run, wait, switches = run + int(r), wait + int(w), switches + int(n)
    return run, wait, switches


def sample(every, names, stop, rows, cpu):
    while not stop.is_set():
        now = time.monotonic()
        with open("/proc/stat") as f:
            cpu.append((now, [int(x) for x in f.readline().split()[1:9]]))
        for pid, comm in processes(names):
            try:
                rows[(pid, comm)].append((now, *schedstat(pid)))
            except (OSError, ValueError):
                continue
        stop.wait(every)


def report(rows, cpu, busy):
    start = cpu[0][0] if cpu else 0.0
    toolgate = []
    print("| process | pid | from, s | to, s | running, cores | waiting, s/s | switches/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (pid, comm), points in sorted(rows.items(), key=lambda kv: kv[1][0][0]):
        rates = []
        for (t0, r0, w0, n0), (t1, r1, w1, n1) in zip(points, points[1:]):
            dt = t1 - t0
            rates.append((t0, (r1 - r0) / 1e9 / dt, (w1 - w0) / 1e9 / dt, (n1 - n0) / dt))
        hot = [r for r in rates if r[1] > busy]
        if len(hot) < 3:
            continue
        if comm == "toolgate":
            toolgate.append((hot[0][0], hot[-1][0]))
        print(
            f"| {comm} | {pid} | {hot[0][0] - start:.1f} | {hot[-1][0] - start:.1f} "
            f"| {statistics.median(r[1] for r in hot):.2f} "
            f"| {statistics.median(r[2] for r in hot):.2f} "
            f"| {statistics.median(r[3] for r in hot):.0f} |"
        )
    idle_via, idle_else = [], []
    for (t0, a), (_, b) in zip(cpu, cpu[1:]):
        d = [y - x for x, y in zip(a, b)]
        if sum(d) == 0:
            continue
        share = d[3] / sum(d)
        inside = any(lo <= t0 <= hi for lo, hi in toolgate)
        (idle_via if inside else idle_else).append(share)
    if idle_via and idle_else:
        print(
            f"\nidle share of the CPUs (median): {statistics.median(idle_via):.2f} while "
            f"toolgate was busy, {statistics.median(idle_else):.2f} otherwise"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=float, default=0.25, help="seconds between samples")
    ap.add_argument("--busy", type=float, default=0.2, help="cores that make an interval busy")
    ap.add_argument("--names", default=",".join(NAMES), help="process name prefixes")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    rows, cpu = collections.defaultdict(list), []
    stop = threading.Event()
    names = tuple(n for n in args.names.split(",") if n)
    sampler = threading.Thread(target=sample, args=(args.every, names, stop, rows, cpu))
    sampler.start()
    try:
        status = subprocess.call(command)
    finally:
        stop.set()
        sampler.join()
    report(rows, cpu, args.busy)
    sys.exit(status)


if __name__ == "__main__":
    main()
