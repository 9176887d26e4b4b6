#!/usr/bin/env python3
"""Plate-solving figures (issue 13): frames of the real-sky simulator at three pointings, solved
by Aperture (`POST /v1/solutions`: the processor's star detector and solve-field) with and
without a position hint, and the same frames through evora-server's own approach in the same
run (framing/framing_assist.py: `sep` extraction with evora's parameters, at most 50 sources,
the PyPI `astrometry` package's Solver with evora's log-odds callback), given the same Debian
Tycho-2 index files and the same hints.

Starts its own service (the built `aperture` supervisor, simulator at 1024x1024, 13 um pixels,
600 mm) in a temporary directory. evora's size hint (0.4-0.5"/px, its telescope's) is replaced
by the simulated telescope's scale +-5%, the same bounds Aperture derives from FOCALLEN/XPIXSZ;
its Solver is built once, before timing, as evora builds it at import.

Usage: python3 Benchmarks/plate_solve.py [--build .build/release] [--repeat 3]
"""
import argparse
import glob
import math
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import requests

POINTINGS = [("Orion nebula", 83.82, -5.39), ("M13", 250.42, 36.46), ("Polaris", 37.95, 89.26)]
SCALE = 13.0 / 1000 / 600 * 180 / math.pi * 3600  # arcsec per pixel
HINT_OFFSET = (0.4, -0.3)  # degrees: the hint is this far off the true pointing
HINT_RADIUS = 2.0


def separation(ra1, dec1, ra2, dec2):
    r = math.pi / 180
    cosine = math.sin(dec1 * r) * math.sin(dec2 * r) + math.cos(dec1 * r) * math.cos(dec2 * r) * math.cos((ra1 - ra2) * r)
    return math.acos(max(-1.0, min(1.0, cosine))) / r * 3600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(build, root):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "APERTURE_GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "APERTURE_ALPACA_PORT": "0",
        "APERTURE_ALPACA_DISCOVERY": "off",
        "APERTURE_STATE_DIRECTORY": os.path.join(root, "state"),
        "APERTURE_DATA_ROOT": os.path.join(root, "data"),
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
    })
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    log = open(os.path.join(root, "service.log"), "w")
    process = subprocess.Popen([os.path.join(build, "aperture"), "--runtime-dir", os.path.join(root, "run")],
                               env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/v1/camera", timeout=2).json().get("connected"):
                return process, base
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not come up within 90 s; see " + root + "/service.log")


def expose(base, ra, dec, root):
    reply = requests.post(base + "/v1/exposures", json={"type": "object", "time": 1, "ra": ra, "dec": dec}).json()
    while True:
        record = requests.get(base + "/v1/exposures/" + reply["id"]).json()
        if record["status"] != "running":
            assert record["status"] == "completed", record
            return os.path.relpath(record["files"][0]["path"], os.path.join(root, "data"))
        time.sleep(0.05)


def evora_solver():
    import astrometry
    files = sorted(glob.glob("/usr/share/astrometry/index-tycho2-*.littleendian.fits"))
    start = time.perf_counter()
    solver = astrometry.Solver([pathlib.Path(file) for file in files])
    return solver, time.perf_counter() - start


def evora_solve(solver, path, hint):
    """evora-server's solve_fits, with the simulated telescope's size hint."""
    import astrometry
    import numpy as np
    import sep
    from astropy.io import fits

    def logodds_callback(logodds_list):
        if len(logodds_list) < 3:
            return astrometry.Action.CONTINUE
        if logodds_list[1] > logodds_list[0] - 10 and logodds_list[2] > logodds_list[0] - 10:
            return astrometry.Action.STOP
        return astrometry.Action.CONTINUE

    start = time.perf_counter()
    data = fits.open(path)[0].data.astype(np.float32)
    background = sep.Background(data)
    sources = sep.extract(data - background, thresh=1.5, err=background.globalrms, minarea=40)
    if len(sources) > 50:
        sources = sources[np.linspace(0, len(sources) - 1, 50, dtype=int)]
    stars = list(zip(sources["x"], sources["y"]))
    position = astrometry.PositionHint(ra_deg=hint[0], dec_deg=hint[1], radius_deg=hint[2]) if hint else None
    solution = solver.solve(stars=stars, size_hint=astrometry.SizeHint(SCALE * 0.95, SCALE * 1.05),
                            position_hint=position,
                            solution_parameters=astrometry.SolutionParameters(logodds_callback=logodds_callback))
    elapsed = time.perf_counter() - start
    if not solution.has_match():
        return elapsed, None, len(stars)
    match = solution.best_match()
    # The frame's centre through the match's WCS (sep's coordinates are 0-based), beside the
    # match's own center_ra_deg/center_dec_deg, which evora reports.
    centre = match.astropy_wcs().pixel_to_world_values((data.shape[1] - 1) / 2, (data.shape[0] - 1) / 2)
    return elapsed, (match.center_ra_deg, match.center_dec_deg, match.scale_arcsec_per_pixel,
                     float(centre[0]), float(centre[1])), len(stars)


def row(label, times, errors, scales, solved, total):
    return "| {} | {}/{} | {:.2f} s | {:.2f} s | {:.2f}\" | {:.3f}% |".format(
        label, solved, total, statistics.median(times), max(times),
        max(errors) if errors else float("nan"), max(scales) if scales else float("nan"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=".build/release", help="directory holding the built aperture executables")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="aperture-platesolve-bench-")
    process, base = start_service(os.path.abspath(args.build), root)
    results = {}
    try:
        frames = [(name, ra, dec, expose(base, ra, dec, root)) for name, ra, dec in POINTINGS]
        solver, load = evora_solver()
        for name, ra, dec, file in frames:
            for hinted in (False, True):
                hint = ((ra + HINT_OFFSET[0]) % 360, max(-90, min(90, dec + HINT_OFFSET[1])), HINT_RADIUS) if hinted else None
                for _ in range(args.repeat):
                    body = {"file": file}
                    if hint:
                        body.update({"hint_ra_deg": hint[0], "hint_dec_deg": hint[1], "hint_radius_deg": hint[2]})
                    start = time.perf_counter()
                    solution = requests.post(base + "/v1/solutions", json=body, timeout=700).json()
                    wall = time.perf_counter() - start
                    ok = solution["status"] == "success"
                    results.setdefault(("aperture", hinted), []).append((
                        wall, ok, separation(solution["center_ra_deg"], solution["center_dec_deg"], ra, dec) if ok else None,
                        abs(solution["pixel_scale"] / SCALE - 1) * 100 if ok else None, name, solution["detected_stars"],
                        solution["matched_stars"]))
                    elapsed, match, sources = evora_solve(solver, os.path.join(root, "data", file), hint)
                    results.setdefault(("evora", hinted), []).append((
                        elapsed, match is not None, separation(match[0], match[1], ra, dec) if match else None,
                        abs(match[2] / SCALE - 1) * 100 if match else None, name, sources, None,
                        separation(match[3], match[4], ra, dec) if match else None))
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    print(f"pointings: {', '.join(f'{n} ({r}, {d})' for n, r, d in POINTINGS)}; {args.repeat} solves each;"
          f" hint {HINT_OFFSET[0]}, {HINT_OFFSET[1]} deg off, radius {HINT_RADIUS}; scale {SCALE:.4f}\"/px")
    print(f"evora's Solver built from {len(glob.glob('/usr/share/astrometry/index-tycho2-*.littleendian.fits'))} index files in {load:.2f} s (not timed below)")
    print("| solver, hint | solved | median | max | centre error (max) | scale error (max) |")
    print("|---|---|---|---|---|---|")
    for key in [("aperture", False), ("aperture", True), ("evora", False), ("evora", True)]:
        entries = results[key]
        print(row(f"{'Aperture' if key[0] == 'aperture' else 'evora (sep + astrometry)'}, {'hint' if key[1] else 'no hint'}",
                  [e[0] for e in entries], [e[2] for e in entries if e[1]], [e[3] for e in entries if e[1]],
                  sum(e[1] for e in entries), len(entries)))
    wcs_errors = [e[7] for key in [("evora", False), ("evora", True)] for e in results[key] if e[1]]
    if wcs_errors:
        print(f"evora's frame centre through its match's WCS (not what evora reports): max error {max(wcs_errors):.2f}\"")
    print()
    print("| solver, hint | pointing | median | stars given (matched) |")
    print("|---|---|---|---|")
    for key in [("aperture", False), ("aperture", True), ("evora", False), ("evora", True)]:
        for name, _, _ in POINTINGS:
            entries = [e for e in results[key] if e[4] == name]
            matched = f" ({entries[0][6]})" if entries[0][6] is not None else ""
            print(f"| {key[0]}, {'hint' if key[1] else 'no hint'} | {name} | {statistics.median(e[0] for e in entries):.2f} s"
                  f" | {entries[0][5]}{matched} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
