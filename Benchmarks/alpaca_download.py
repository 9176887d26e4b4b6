#!/usr/bin/env python3
"""Time to download one 2048x2048 image from Aperture's ASCOM Alpaca camera with alpyca,
through ImageBytes and through JSON, beside reading the same FITS file from disk with astropy.

Starts its own service (the built `aperture` supervisor) in a temporary directory with a
2048x2048 simulated sensor, takes one exposure through Alpaca, then downloads it N times each
way and prints the median and best times.

Usage: python3 Benchmarks/alpaca_download.py [--build .build/release] [--repeat 7] [--size 2048]
"""
import argparse
import glob
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import numpy
import requests
from alpaca.camera import Camera
from astropy.io import fits


def start_service(build, size, root, extra=None, height=None):
    """Starts `aperture` in `root` with a size x (height or size) sensor and the environment
    `extra`; returns the process and the Alpaca address once the gateway has logged it."""
    env = dict(os.environ)
    env.update({
        "APERTURE_GATEWAY_LISTEN": "127.0.0.1:0",
        "APERTURE_ALPACA_PORT": "0",
        "APERTURE_ALPACA_DISCOVERY": "off",
        "APERTURE_STATE_DIRECTORY": os.path.join(root, "state"),
        "APERTURE_DATA_ROOT": os.path.join(root, "data"),
        "APERTURE_CAMERA_WIDTH": str(size),
        "APERTURE_CAMERA_HEIGHT": str(height or size),
    })
    env.update(extra or {})
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    log = open(os.path.join(root, "service.log"), "w")
    process = subprocess.Popen([os.path.join(build, "aperture"), "--runtime-dir", os.path.join(root, "run")],
                               env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(os.path.join(root, "service.log")) as text:
            match = re.search(r"alpaca: camera 0 on http://([0-9.]+:[0-9]+)/", text.read())
        if match:
            return process, match.group(1)
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not report its Alpaca address within 60 s; see " + root + "/service.log")


def timed(function, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=".build/release", help="directory holding the built aperture executables")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="aperture-alpaca-bench-")
    process, address = start_service(os.path.abspath(args.build), args.size, root)
    try:
        camera = Camera(address, 0)
        deadline = time.monotonic() + 30
        while True:
            try:
                camera.Connected = True
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        camera.StartExposure(0.1, True)
        while not camera.ImageReady:
            time.sleep(0.05)
        path = sorted(glob.glob(os.path.join(root, "data", "*", "*.fits")))[-1]
        url = f"http://{address}/api/v1/camera/0/imagearray"

        results = {}
        results["ImageBytes, alpyca ImageArrayRaw (array.array)"] = timed(lambda: camera.ImageArrayRaw, args.repeat)
        results["ImageBytes, alpyca ImageArray (nested lists)"] = timed(lambda: camera.ImageArray, args.repeat)
        results["ImageBytes, HTTP body only (requests)"] = timed(
            lambda: requests.get(url, headers={"Accept": "application/imagebytes"}).content, args.repeat)
        # alpyca takes JSON when the server sends it: the same request without the Accept header,
        # decoded as alpyca decodes it (response.json()["Value"]).
        results["JSON, requests + json decode (alpyca's JSON path)"] = timed(
            lambda: requests.get(url).json()["Value"], args.repeat)
        results["JSON, HTTP body only (requests)"] = timed(lambda: requests.get(url).content, args.repeat)
        results["FITS from disk, astropy fits.getdata"] = timed(lambda: numpy.asarray(fits.getdata(path)), args.repeat)

        raw = numpy.frombuffer(results["ImageBytes, alpyca ImageArrayRaw (array.array)"][1], dtype=numpy.uint16)
        fits_pixels = fits.getdata(path)
        same = numpy.array_equal(raw.reshape(args.size, args.size).T, fits_pixels)
        json_bytes = len(results["JSON, HTTP body only (requests)"][1])
        image_bytes = len(results["ImageBytes, HTTP body only (requests)"][1])

        print(f"{args.size}x{args.size} UInt16 image ({args.size * args.size * 2 / 1e6:.1f} MB of pixels), "
              f"{args.repeat} runs each, loopback; ImageBytes body {image_bytes / 1e6:.1f} MB, JSON body {json_bytes / 1e6:.1f} MB")
        print(f"{'path':52} {'median':>10} {'best':>10}")
        for name, (times, _) in results.items():
            print(f"{name:52} {statistics.median(times) * 1000:8.0f} ms {min(times) * 1000:8.0f} ms")
        print(f"ImageBytes pixels equal the FITS file: {same}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
