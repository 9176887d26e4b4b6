"""Reads a master frame and raw frames as an archive would, independently of Aperture (astropy,
numpy): the master's header, HISTORY cards and checksums, its noise, median, corner and centre
levels (16x16 means), and the read noise of two
raw frames as std(b1 - b2) / sqrt(2). Prints one JSON object.

usage: master_check.py MASTER RAW1 RAW2
"""
import json
import sys
import warnings

import numpy as np
from astropy.io import fits

master_path, first, second = sys.argv[1:4]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with fits.open(master_path, checksum=True) as hdul:
        header = hdul[0].header
        data = hdul[0].data.astype(np.float64)
        out = {
            "bitpix": header["BITPIX"],
            "imagetyp": header.get("IMAGETYP"),
            "ncombine": header.get("NCOMBINE"),
            "combmeth": header.get("COMBMETH"),
            "history": [str(card) for card in header.get("HISTORY", [])],
            "shape": list(data.shape),
            "mean": float(data.mean()),
            "std": float(data.std()),
            "median": float(np.median(data)),
            "corner": float(data[:16, :16].mean()),
            "center": float(data[data.shape[0] // 2 - 8:data.shape[0] // 2 + 8, data.shape[1] // 2 - 8:data.shape[1] // 2 + 8].mean()),
        }
    out["checksum_warnings"] = [str(w.message) for w in caught if "checksum" in str(w.message).lower()]
a = fits.getdata(first).astype(np.float64)
b = fits.getdata(second).astype(np.float64)
out["read_noise"] = float((a - b).std() / np.sqrt(2))
print(json.dumps(out))
