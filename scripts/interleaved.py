#!/usr/bin/env python3
"""Whole processes, interleaved: the codec floor and any number of builds of
`variegate run`, each round running every one in turn, so that a noisy host
moves them all alike. Prints medians of wall time and of the children's CPU
time, and each build against the floor (median of the per-round ratios).

    scripts/interleaved.py IMAGE ROUNDS THREADS FLOOR BIN [BIN...]

FLOOR is the `floor` example (decode once, 7 PNG encodes, writes):
`cargo build --release -p variegate-benches --examples`, then
`target/release/examples/floor`.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

image, rounds, threads, floor, builds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
palettes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "palettes.json")
work = tempfile.mkdtemp(prefix="interleaved-")

commands = {"floor": lambda out: [floor, image, out, threads]}
for build in builds:
    commands[build] = (lambda b: lambda out: [b, "run", image, "--palettes", palettes, "-q", "--threads", threads, "--out", out])(build)
runs = {name: [] for name in commands}
for _ in range(rounds):
    for name, command in commands.items():
        out = os.path.join(work, "out")
        shutil.rmtree(out, ignore_errors=True)
        before = os.times()
        start = time.perf_counter()
        subprocess.run(command(out), check=True, stdout=subprocess.DEVNULL)
        wall = (time.perf_counter() - start) * 1000
        after = os.times()
        cpu = ((after.children_user - before.children_user) + (after.children_system - before.children_system)) * 1000
        runs[name].append((wall, cpu))
shutil.rmtree(work, ignore_errors=True)

floor_runs = runs["floor"]
print(f"{os.path.basename(image)}, {threads} threads, {rounds} rounds (medians)")
for name, measured in runs.items():
    wall = statistics.median(w for w, _ in measured)
    cpu = statistics.median(c for _, c in measured)
    line = f"  {name}: {wall:.1f} ms (CPU {cpu:.0f})"
    if name != "floor":
        ratios = sorted(w / f for (w, _), (f, _) in zip(measured, floor_runs))
        # The children's CPU time comes in clock ticks: a run shorter than
        # one (a tiny image) may read as none, and has no CPU ratio.
        cpu_ratios = [c / f for (_, c), (_, f) in zip(measured, floor_runs) if f > 0]
        cpu_ratio = f"{statistics.median(cpu_ratios):.2f}x" if cpu_ratios else "not measured"
        line += f", {statistics.median(ratios):.2f}x the floor (CPU {cpu_ratio}; rounds {ratios[0]:.2f}-{ratios[-1]:.2f})"
    print(line)
