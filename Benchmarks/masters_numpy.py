#!/usr/bin/env python3
"""numpy's and astropy's master combines, timed on the frames aperture-bench-masters wrote.

Usage: masters_numpy.py STACK.raw FRAMES WIDTH HEIGHT OUT_PREFIX ROUNDS

STACK.raw holds FRAMES frames of WIDTH x HEIGHT native-endian uint16 pixels, one after the other.
Prints one JSON line: the best seconds of np.median(stack, axis=0) and of
astropy.stats.sigma_clip(stack, axis=0, sigma=3, maxiters=5).mean(axis=0), and writes both
results as float32 to OUT_PREFIX-median.raw and OUT_PREFIX-clip.raw for the comparison.
"""
import json
import sys
import time

import numpy as np
from astropy.stats import sigma_clip

path, frames, width, height, prefix, rounds = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5], int(sys.argv[6])
stack = np.fromfile(path, dtype=np.uint16).reshape(frames, height, width)
best = {"median": float("inf"), "sigma_clip": float("inf")}
for _ in range(rounds):
    started = time.perf_counter()
    median = np.median(stack, axis=0)
    best["median"] = min(best["median"], time.perf_counter() - started)
    started = time.perf_counter()
    clipped = sigma_clip(stack, sigma=3, maxiters=5, axis=0).mean(axis=0)
    best["sigma_clip"] = min(best["sigma_clip"], time.perf_counter() - started)
median.astype(np.float32).tofile(prefix + "-median.raw")
np.ma.filled(clipped, np.nan).astype(np.float32).tofile(prefix + "-clip.raw")
print(json.dumps({"numpy": np.__version__, **best}))
