"""Web formats against PNG, as in docs/performance.md ("Web formats"):
for each setting, the mean bytes and encode time a variation (one thread),
the whole run at two threads (best of ROUNDS, default 2), and the mean
CIEDE2000 of each variation, decoded by Pillow, to the PNG variation.

    target/python-venv/bin/python scripts/web_formats.py IMAGE \
        "--format jpeg" "--format webp --lossless" "--format webp" "--format avif"

Needs a release build (cargo build --release -p variegate-cli), numpy and
Pillow (the Python tests' virtual environment has both). Writes under
/tmp/web-formats."""
import json, subprocess, sys, time, io
import numpy as np
from PIL import Image

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "variegate")
PAL = os.path.join(ROOT, "testdata", "palettes.json")
sys.path.insert(0, os.path.join(ROOT, "crates", "python", "tests"))
from colour_difference import ciede2000, srgb_to_lab  # noqa: E402

def run(image, out, args, threads):
    t = time.monotonic()
    r = subprocess.run([BIN, "run", image, "--palettes", PAL, "--out", out, "-q", "--json", "--threads", str(threads), *args], capture_output=True, check=True)
    return json.loads(r.stdout), time.monotonic() - t

def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))

image = sys.argv[1]
settings = [("png", [])] + [(spec, spec.split()) for spec in sys.argv[2:]]
png = None
for name, args in settings:
    out = f"/tmp/web-formats/{name.replace(' ', '')}"
    subprocess.run(["rm", "-rf", out])
    report, _ = run(image, out, args, 1)
    walls = [run(image, out + "-2", args, 2)[1] for _ in range(int(os.environ.get("ROUNDS", "2")))]
    files = [f"{out}/{v['key']}" for v in report["variations"]]
    size = np.mean([v["bytes"] for v in report["variations"]])
    encode = np.mean([v["timings_ms"]["encode"] for v in report["variations"]])
    if png is None:
        png = [pixels(f) for f in files]
        png_size, png_encode, png_wall = size, encode, min(walls)
    de = np.mean([ciede2000(srgb_to_lab(p), srgb_to_lab(pixels(f))).mean() for p, f in zip(png, files)])
    print(f"{name:18} bytes {size/1e3:8.0f} KB ({size/png_size:5.3f} of PNG)  encode {encode:7.1f} ms ({encode/png_encode:5.2f}x)  run(2t) {min(walls):6.2f} s ({min(walls)/png_wall:4.2f}x)  dE2000 {de:5.2f}", flush=True)
