#!/usr/bin/env python3
"""Side by side: 7 palettes of Floyd–Steinberg remap on the 2048x2048 frame,
with the same number of cores, by variegate's CLI and by Pillow.

variegate: one process, `variegate run FRAME --look remap --dither --threads N`,
storing every PNG in memory. Pillow, as strong as it gets: a pool of N
processes, started and warmed before timing; each takes every Nth palette,
decodes the frame once, and per palette `quantize(palette=...,
dither=FLOYDSTEINBERG)` then saves a PNG to memory at compress_level=1 (zlib's
fastest, as variegate's encoder is fast; Pillow's default level 6 would take
it 0.3 s more a palette here). Each side's time is the fastest of --runs whole
jobs, taken in turns.

    python3 scripts/dither_vs_pillow.py [--threads 2] [--runs 5]

Pillow missing: says so and exits 0. Builds the release CLI and the frame
(`cargo run --release -p variegate-benches --example frame_2048`) if needed.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pillow_task(args):
    """One worker's share: the frame decoded once, then its palettes."""
    from PIL import Image

    frame, share = args
    with Image.open(frame) as image:
        image = image.convert("RGB")
    sizes = []
    for colours in share:
        palette = Image.new("P", (1, 1))
        flat = [channel for colour in colours for channel in colour]
        # Pillow's palette holds 256 colours: the rest repeat the first, so
        # they are never nearer than it.
        palette.putpalette(flat + flat[:3] * (256 - len(colours)))
        out = image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG", compress_level=1)
        sizes.append(len(buffer.getvalue()))
    return sizes


def hex_colour(text):
    text = text.strip().lstrip("#")
    return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frame", default=os.path.join(ROOT, "target", "frame-2048.png"))
    args = parser.parse_args()

    try:
        import PIL
    except ImportError:
        print("skipped: Pillow is not installed (pip install pillow)")
        return 0

    binary = os.path.join(ROOT, "target", "release", "variegate")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "variegate-cli"], cwd=ROOT, check=True)
    if not os.path.exists(args.frame):
        subprocess.run(
            ["cargo", "run", "--release", "-q", "-p", "variegate-benches", "--example", "frame_2048", "--", args.frame],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    palettes_file = os.path.join(ROOT, "testdata", "palettes.json")
    with open(palettes_file) as f:
        palettes = [[hex_colour(c) for c in p["colors"]] for p in json.load(f)]

    command = [binary, "run", args.frame, "--palettes", palettes_file, "--look", "remap", "--dither",
               "--threads", str(args.threads), "--out", "memory://", "-q"]

    def variegate_run():
        start = time.perf_counter()
        subprocess.run(command, check=True)
        return time.perf_counter() - start

    with ProcessPoolExecutor(max_workers=args.threads) as pool:
        tasks = [(args.frame, palettes[i :: args.threads]) for i in range(args.threads)]
        list(pool.map(pillow_task, tasks))  # start and warm the workers

        def pillow_run():
            start = time.perf_counter()
            list(pool.map(pillow_task, tasks))
            return time.perf_counter() - start

        variegate_times, pillow_times = [], []
        variegate_run()
        for _ in range(args.runs):
            variegate_times.append(variegate_run())
            pillow_times.append(pillow_run())

    fastest_variegate, fastest_pillow = min(variegate_times), min(pillow_times)
    print(f"7 palettes, Floyd–Steinberg remap, 2048x2048, {args.threads} threads/processes, fastest of {args.runs}:")
    print(f"  variegate {fastest_variegate:.3f} s  (all: {', '.join(f'{t:.3f}' for t in variegate_times)})")
    print(f"  Pillow {PIL.__version__} {fastest_pillow:.3f} s  (all: {', '.join(f'{t:.3f}' for t in pillow_times)})")
    print(f"  variegate is {fastest_pillow / fastest_variegate:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
