#!/usr/bin/env python3
"""Checks the facility archive against the camera hosts (Benchmarks/scale-out.sh).

Compares the FITS files of each camera host's data root (those not listed in --before) with the
archive's PostgreSQL rows and central files: every frame a row and a file, the file's SHA-256 equal
to the camera host's file and to the row, no frame twice. Prints

    SCENARIO: rows R/E, files F/E, duplicates D, hash mismatches M

(E the frames expected) and, with --lag, the delay from each frame's file on its camera host
(its modification time: the rename after fsync) to its row committed centrally, p50 and p99.
Exit status 0 when R = F = E and D = M = 0.

    scale_out_check.py --psql "-h HOST -p PORT -U USER -d DB" --archive-root DIR \\
        --camera SITE/CAMERA=DATA_ROOT [--camera ...] [--before LIST] [--list-to FILE] [--lag] [--name NAME]
"""
import argparse
import hashlib
import os
import shlex
import subprocess
import sys


def camera_files(cameras):
    """(site, camera, relative path) -> absolute path, for every FITS file of every camera host."""
    files = {}
    for site, camera, root in cameras:
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith(".fits") or name.endswith(".fits.fz"):
                    full = os.path.join(folder, name)
                    files[(site, camera, os.path.relpath(full, root))] = full
    return files


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 1)))
    return ordered[min(len(ordered), rank) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--psql", required=True, help="psql's connection arguments")
    parser.add_argument("--archive-root", required=True)
    parser.add_argument("--camera", action="append", required=True, help="SITE/CAMERA=DATA_ROOT")
    parser.add_argument("--before", help="a file listing the frames (SITE/CAMERA/PATH) of earlier scenarios, left out")
    parser.add_argument("--list-to", help="write every frame seen (SITE/CAMERA/PATH) to this file")
    parser.add_argument("--lag", action="store_true", help="print the fsync-to-central-commit delays")
    parser.add_argument("--name", default="SCENARIO", help="the word that starts the result line")
    options = parser.parse_args()

    cameras = []
    for item in options.camera:
        identity, root = item.split("=", 1)
        site, camera = identity.split("/", 1)
        cameras.append((site, camera, root))
    before = set()
    if options.before and os.path.exists(options.before):
        with open(options.before) as handle:
            before = {tuple(line.rstrip("\n").split("/", 2)) for line in handle if line.strip()}
    hosts = camera_files(cameras)
    if options.list_to:
        with open(options.list_to, "w") as handle:
            for site, camera, path in sorted(hosts):
                handle.write(f"{site}/{camera}/{path}\n")
    expected = {key: full for key, full in hosts.items() if key not in before}

    query = "SELECT site, camera, path, central_path, sha256, extract(epoch from stored) FROM frames"
    output = subprocess.run(["psql", *shlex.split(options.psql), "-At", "-F", "\t", "-c", query],
                            check=True, capture_output=True, text=True).stdout
    rows = {}
    duplicates = 0
    for line in output.splitlines():
        site, camera, path, central, digest, stored = line.split("\t")
        key = (site, camera, path)
        if key in rows:
            duplicates += 1
        rows[key] = (central, digest, float(stored))
    # The same bytes under two rows (a frame stored twice under another name) count as duplicates too.
    by_hash = {}
    for key, (_, digest, _) in rows.items():
        by_hash.setdefault((key[0], key[1], digest), []).append(key)
    duplicates += sum(len(keys) - 1 for keys in by_hash.values())

    found_rows = 0
    found_files = 0
    mismatches = 0
    lags = []
    for key, host_path in expected.items():
        row = rows.get(key)
        if row is None:
            continue
        found_rows += 1
        central, digest, stored = row
        central_path = central if os.path.isabs(central) else os.path.join(options.archive_root, central)
        if not os.path.exists(central_path):
            continue
        found_files += 1
        host_digest = sha256(host_path)
        if sha256(central_path) != digest or digest != host_digest:
            mismatches += 1
        lags.append(stored - os.stat(host_path).st_mtime)
    # Files in the archive's tree that no row names are duplicates as well (a frame written twice).
    named = {os.path.normpath(row[0] if os.path.isabs(row[0]) else os.path.join(options.archive_root, row[0]))
             for row in rows.values()}
    for folder, subfolders, names in os.walk(options.archive_root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if (name.endswith(".fits") or name.endswith(".fits.fz")) and os.path.normpath(os.path.join(folder, name)) not in named:
                duplicates += 1

    total = len(expected)
    print(f"{options.name}: rows {found_rows}/{total}, files {found_files}/{total}, duplicates {duplicates}, "
          f"hash mismatches {mismatches}")
    if options.lag and lags:
        print(f"LAG: {len(lags)} frames, fsync to central commit p50 {percentile(lags, 0.5):.3f} s, "
              f"p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s")
    ok = found_rows == total and found_files == total and duplicates == 0 and mismatches == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
