"""Checks Rice-compressed frames as a user's tools see them (CompressionEndToEndTests).

Usage: compressed_files.py REFERENCE.fits SCRATCH FILE.fits.fz...

REFERENCE is an uncompressed copy of the last FILE's frame (the gateway's
/v1/frames/latest.fits, made from the camera's frame ring). For every FILE: astropy opens
it with checksum verification (any warning is an error), the image is HDU 1 as uint16;
Debian's funpack restores it to a plain file whose pixels astropy compares; fitsverify's
verdict. Prints one JSON object; exits 1 if a check fails, naming it on stderr.
"""
import json
import subprocess
import sys
import warnings

import numpy as np
from astropy.io import fits

warnings.simplefilter("error")
reference, scratch, files = sys.argv[1], sys.argv[2], sys.argv[3:]
failures = []
report = {"files": []}


def check(condition, message):
    if not condition:
        failures.append(message)


with fits.open(reference) as hdul:
    expected_last = hdul[0].data.copy()

for index, path in enumerate(files):
    entry = {"path": path}
    with fits.open(path, checksum=True) as hdul:
        hdul.verify("exception")
        check(len(hdul) == 2 and hdul[0].header["NAXIS"] == 0, f"{path}: not an empty primary and one extension")
        check(isinstance(hdul[1], fits.CompImageHDU), f"{path}: HDU 1 is not a compressed image")
        data = hdul[1].data.copy()
        entry["shape"] = list(data.shape)
        entry["dtype"] = str(data.dtype)
        entry["imagetyp"] = hdul[1].header.get("IMAGETYP")
        check(data.dtype == np.uint16, f"{path}: dtype {data.dtype}")
    with fits.open(path, disable_image_compression=True) as raw:
        check(raw[1].header.get("ZCMPTYPE") == "RICE_1", f"{path}: not RICE_1 ({raw[1].header.get('ZCMPTYPE')})")
        check(raw[1].header.get("ZIMAGE") is True, f"{path}: no ZIMAGE = T")
    unpacked = f"{scratch}/unpacked-{index}.fits"
    funpack = subprocess.run(["funpack", "-O", unpacked, path], capture_output=True, text=True)
    check(funpack.returncode == 0, f"{path}: funpack failed: {funpack.stderr}")
    if funpack.returncode == 0:
        with fits.open(unpacked) as plain:
            check(np.array_equal(plain[0].data, data), f"{path}: funpack's pixels differ from astropy's")
            entry["funpack_equal"] = bool(np.array_equal(plain[0].data, data))
    verify = subprocess.run(["fitsverify", path], capture_output=True, text=True)
    entry["fitsverify_clean"] = "found 0 warning(s) and 0 error(s)" in verify.stdout
    check(entry["fitsverify_clean"], f"{path}: fitsverify: {verify.stdout[-600:]}")
    if index == len(files) - 1:
        entry["equals_reference"] = bool(np.array_equal(data, expected_last))
        check(entry["equals_reference"], f"{path}: pixels differ from the frame ring's copy")
    report["files"].append(entry)

print(json.dumps(report))
for failure in failures:
    print(failure, file=sys.stderr)
sys.exit(1 if failures else 0)
