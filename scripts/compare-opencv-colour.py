#!/usr/bin/env python3
"""Compares the shift look's 8-bit colour conversions with OpenCV's, over
all 2^24 inputs of each.

    VARIEGATE_DUMP_COLOUR8=/tmp/c8 cargo test --release -p variegate-core --lib dump_for_opencv
    pip install opencv-python-headless numpy
    python3 scripts/compare-opencv-colour.py /tmp/c8

OpenCV converts a 4096x4096 image holding every input once, so it takes its
vector path, as it does for whole images in the original service.
"""
import sys

import cv2
import numpy as np

folder = sys.argv[1]
every = np.arange(1 << 24, dtype=np.uint32)
inputs = np.stack([(every >> 16) & 255, (every >> 8) & 255, every & 255], axis=1).astype(np.uint8)
inputs = inputs.reshape(4096, 4096, 3)
print(f"OpenCV {cv2.__version__}")
for name, code in [("rgb2lab", cv2.COLOR_RGB2LAB), ("lab2rgb", cv2.COLOR_LAB2RGB),
                   ("rgb2hsv", cv2.COLOR_RGB2HSV), ("hsv2rgb", cv2.COLOR_HSV2RGB)]:
    ours = np.fromfile(f"{folder}/{name}", dtype=np.uint8).reshape(4096, 4096, 3)
    theirs = cv2.cvtColor(inputs, code)
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    if name == "rgb2hsv":  # hue wraps around at 180
        difference[..., 0] = np.minimum(difference[..., 0], 180 - difference[..., 0])
    if name == "hsv2rgb":  # hues of 180 and over are not 8-bit HSV
        difference = difference[inputs[..., 0] < 180]
    worst = difference.reshape(-1, 3).max(axis=1)
    print(f"{name}: {100 * (worst == 0).mean():.2f}% identical, "
          f"{100 * (worst == 1).mean():.2f}% one level apart, at most {worst.max()} levels")
