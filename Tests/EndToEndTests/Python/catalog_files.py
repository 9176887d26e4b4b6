"""Reads saved frames as an archive would, independently of Aperture: astropy for the header
(the primary HDU, or the first image extension of a tile-compressed .fits.fz) and hashlib for
the SHA-256. Prints one JSON object: path relative to the data root -> values.

usage: catalog_files.py DATA_ROOT
"""
import hashlib
import json
import os
import sys

from astropy.io import fits

root = sys.argv[1]
out = {}
for night in sorted(os.listdir(root)):
    folder = os.path.join(root, night)
    if len(night) != 8 or not night.isdigit() or not os.path.isdir(folder):
        continue
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or not (name.endswith(".fits") or name.endswith(".fits.fz")):
            continue
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        with fits.open(path) as hdul:
            hdu = hdul[1] if name.endswith(".fz") else hdul[0]
            h = hdu.header
            def get(key):
                value = h.get(key)
                return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
            out[night + "/" + name] = {
                "bytes": os.path.getsize(path), "sha256": digest,
                "date_obs": get("DATE-OBS"), "exptime": get("EXPTIME"), "imagetyp": get("IMAGETYP"),
                "filter": get("FILTER"), "object": get("OBJECT"), "exposure": get("EXPID"), "frame": get("FRAMENUM"),
                "ccd_temp": get("CCD-TEMP"), "set_temp": get("SET-TEMP"), "gain": get("GAIN"),
                "readout_mode": get("READOUTM"), "xbinning": get("XBINNING"), "width": h.get("NAXIS1"),
                "height": h.get("NAXIS2"), "plan": get("PLAN"), "plan_step": get("PLANSTEP"),
                "plan_index": get("PLANIDX"), "site": get("SITE"), "camera": get("CAMERA"),
            }
print(json.dumps(out))
