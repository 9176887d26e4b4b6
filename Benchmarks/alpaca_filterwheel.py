#!/usr/bin/env python3
"""Issue 17's figures: the Alpaca filter change latency against the wheel's own move time, and
the run time of the carried-over camera conformance checks.

For each wheel move time M (0: the built-in simulated wheel, which moves at once; M > 0: a
wheel server speaking evora's line protocol, Tests/EndToEndTests/Python/slow_filter_wheel.py,
whose every move takes M seconds), starts its own service (the built `aperture` supervisor) in a
temporary directory, connects alpyca's FilterWheel and moves it N times to the next slot,
timing from the request to the return of `Position = slot` (set) and to the first `Position`
read giving the new slot (reached; polled every 5 ms). The overhead is reached - M. Then runs
Tests/EndToEndTests/Python/alpaca_conformance.py camera against the last service, timed, with
binnings up to --max-bin and with all of them.

Usage: python3 Benchmarks/alpaca_filterwheel.py [--build .build/debug] [--moves 20]
       [--move-seconds 0,0.5,2] [--max-bin 4]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from alpaca.filterwheel import FilterWheel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import alpaca_download  # noqa: E402 - its start_service starts the service the same way
PEERS = os.path.join(HERE, "..", "Tests", "EndToEndTests", "Python")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_wheel(seconds):
    port = free_port()
    process = subprocess.Popen([sys.executable, os.path.join(PEERS, "slow_filter_wheel.py"), str(port), str(seconds)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the wheel server did not listen")


def start_service(build, root, extra):
    return alpaca_download.start_service(build, 640, root, extra, height=480)


def measure(address, moves):
    wheel = FilterWheel(address, 0)
    wheel.Connected = True
    count = len(wheel.Names)
    while wheel.Position == -1:
        time.sleep(0.01)
    sets, reached, minus_one = [], [], 0
    for _ in range(moves):
        slot = (wheel.Position + 1) % count
        start = time.perf_counter()
        wheel.Position = slot
        sets.append(time.perf_counter() - start)
        while True:
            position = wheel.Position
            if position == slot:
                break
            minus_one += position == -1
            time.sleep(0.005)
        reached.append(time.perf_counter() - start)
    wheel.Connected = False
    return sets, reached, minus_one


def ms(values):
    return f"{statistics.median(values) * 1000:.1f} / {min(values) * 1000:.1f} / {max(values) * 1000:.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=".build/debug")
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--move-seconds", default="0,0.5,2")
    parser.add_argument("--max-bin", type=int, default=4)
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    rows = []
    conformance = []
    for seconds in [float(s) for s in args.move_seconds.split(",")]:
        root = tempfile.mkdtemp(prefix="aperture-fw-bench-")
        wheel = None
        extra = {}
        if seconds > 0:
            wheel, port = start_wheel(seconds)
            extra = {"APERTURE_FILTERWHEEL_DRIVER": "evora", "APERTURE_FILTERWHEEL_ADDRESS": f"127.0.0.1:{port}"}
        service, address = start_service(build, root, extra)
        try:
            sets, reached, minus_one = measure(address, args.moves)
            overhead = [r - seconds for r in reached]
            rows.append((seconds, sets, reached, overhead, minus_one))
        finally:
            service.terminate()
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
            if wheel:
                wheel.kill()
                wheel.wait()
            shutil.rmtree(root, ignore_errors=True)

    # The camera conformance, each on a fresh service: its first-use checks need a camera that
    # has taken no exposure through Alpaca (ConformU's CameraFirstUseTests).
    for max_bin in (args.max_bin, 0):
        root = tempfile.mkdtemp(prefix="aperture-conf-bench-")
        service, address = start_service(build, root, {})
        try:
            start = time.perf_counter()
            result = subprocess.run([sys.executable, os.path.join(PEERS, "alpaca_conformance.py"), "camera", address,
                                     "--max-bin", str(max_bin)], capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            summary = json.loads(result.stdout or "{}")
            conformance.append((max_bin or "MaxBinX", elapsed, summary.get("check_count"), summary.get("bad_frames_rejected"),
                                len(summary.get("issues", [])) if result.stdout else "failed: " + result.stderr[-300:]))
        finally:
            service.terminate()
            service.wait(timeout=60)
            shutil.rmtree(root, ignore_errors=True)

    print(f"Alpaca filter change, {args.moves} moves each ({args.build}); ms: median / best / worst")
    print("| wheel's own move time | Position = slot returns | Position reads the slot | latency beyond the move | reads of -1 |")
    print("|---|---|---|---|---|")
    for seconds, sets, reached, overhead, minus_one in rows:
        wheel = "0 (built-in simulator)" if seconds == 0 else f"{seconds * 1000:.0f} ms (evora-protocol wheel)"
        print(f"| {wheel} | {ms(sets)} | {ms(reached)} | {ms(overhead)} | {minus_one} |")
    print()
    print("| camera conformance (alpaca_conformance.py camera) | binnings | wall time | checks | bad frames refused | issues |")
    print("|---|---|---|---|---|---|")
    for max_bin, elapsed, count, rejected, issues in conformance:
        print(f"| run | up to {max_bin} | {elapsed:.2f} s | {count} | {rejected} | {issues} |")


if __name__ == "__main__":
    main()
