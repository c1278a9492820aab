#!/usr/bin/env python3
"""Each stage of a `variegate run`, for several builds, interleaved run by
run: the medians of decode, analysis, and per palette of recolour and PNG
encode (from `--json`), their ratio, and the run's total.

    scripts/stages.py IMAGE THREADS ROUNDS BIN [BIN...]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

image, threads, rounds, builds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
palettes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "palettes.json")
work = tempfile.mkdtemp(prefix="stages-")
out = os.path.join(work, "out")
rows = {build: [] for build in builds}
for _ in range(rounds):
    for build in builds:
        shutil.rmtree(out, ignore_errors=True)
        command = [build, "run", image, "--palettes", palettes, "--out", out, "-q", "--threads", threads, "--json"]
        report = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        timings = report["timings_ms"]
        recolour = statistics.median(v["timings_ms"]["recolour"] for v in report["variations"])
        encode = statistics.median(v["timings_ms"]["encode"] for v in report["variations"])
        rows[build].append((timings["decode"], timings["analyse"], recolour, encode, timings["total"]))
shutil.rmtree(work, ignore_errors=True)

print(f"{os.path.basename(image)}, {threads} threads, {rounds} rounds (medians, ms)")
for build, measured in rows.items():
    decode, analyse, recolour, encode, total = (statistics.median(column) for column in zip(*measured))
    print(f"  {build}: decode {decode:.1f}, analyse {analyse:.1f}, per palette recolour {recolour:.2f}"
          f" / encode {encode:.2f} = {recolour / encode:.2f}, total {total:.1f}")
