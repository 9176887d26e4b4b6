#!/usr/bin/env python3
"""Checks the gateway's PNG preview of the latest frame against that frame's FITS file.

    dashboard_preview_check.py BASE_URL FITS_PATH

BASE_URL is the gateway's root (http://127.0.0.1:PORT/). For several widths and each stretch it
GETs v1/frames/latest.png, decodes the PNG with zlib and struct only (every chunk's CRC, the
five scanline filters), and compares it with the FITS file read by astropy:

- zscale: X-Stretch-Low/High equal astropy's ZScaleInterval().get_limits(data);
- asinh: low is ZScaleInterval's low, high the frame's maximum;
- linear: the frame's minimum and maximum;
- the pixels: the image the right way up (ROWORDER), box-averaged to the PNG's size, mapped
  through the stretch, agree within one grey level.

Prints one JSON line per request; exits 0 when all agree, 1 otherwise.
"""

import json
import struct
import sys
import urllib.request
import zlib

import numpy as np
from astropy.io import fits
from astropy.visualization import ZScaleInterval


def decode_png(data):
    """Returns (width, height, rows as a uint8 array, text chunks)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    position = 8
    idat = b""
    header = None
    texts = {}
    seen_end = False
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError("bad CRC in chunk %r" % kind)
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IEND":
            seen_end = True
            break
    if header is None or not seen_end:
        raise ValueError("no IHDR or no IEND")
    width, height, depth, colour, compression, filtering, interlace = header
    if (depth, colour, compression, filtering, interlace) != (8, 0, 0, 0, 0):
        raise ValueError("not 8-bit greyscale without interlace: %r" % (header,))
    raw = zlib.decompress(idat)
    if len(raw) != height * (width + 1):
        raise ValueError("%d bytes of scanlines for %dx%d" % (len(raw), width, height))
    rows = np.zeros((height, width), dtype=np.uint8)
    previous = np.zeros(width, dtype=np.int32)
    for y in range(height):
        kind = raw[y * (width + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=width, offset=y * (width + 1) + 1).astype(np.int32)
        if kind == 0:
            current = line
        elif kind == 2:
            current = (line + previous) & 0xFF
        elif kind in (1, 3, 4):
            current = np.zeros(width, dtype=np.int32)
            for x in range(width):
                left = current[x - 1] if x > 0 else 0
                up = previous[x]
                upper_left = previous[x - 1] if x > 0 else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + up) // 2
                else:
                    p = left + up - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                    predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                current[x] = (line[x] + predictor) & 0xFF
        else:
            raise ValueError("unknown filter %d in row %d" % (kind, y))
        rows[y] = current
        previous = current
    return width, height, rows, texts


def box_average(image, out_width, out_height):
    """The gateway's box average: source column x goes to x * W // w, rows likewise."""
    height, width = image.shape
    columns = np.minimum(out_width - 1, np.arange(width) * out_width // width)
    sums = np.zeros((out_height, out_width))
    result = np.zeros((out_height, out_width))
    for row in range(out_height):
        first = row * height // out_height
        end = max(first + 1, (row + 1) * height // out_height)
        band = image[first:end].astype(np.float64).sum(axis=0)
        sums[row] = np.bincount(columns, weights=band, minlength=out_width)
        result[row] = sums[row] / ((end - first) * np.bincount(columns, minlength=out_width))
    return result


def stretch(values, low, high, kind):
    t = np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)
    if kind == "asinh":
        t = np.arcsinh(t / 0.1) / np.arcsinh(1 / 0.1)
    return np.rint(t * 255)


def main():
    base, path = sys.argv[1], sys.argv[2]
    if not base.endswith("/"):
        base += "/"
    with fits.open(path) as hdul:
        hdu = hdul[0]
        data = np.asarray(hdu.data)
        row_order = str(hdu.header.get("ROWORDER", "TOP-DOWN")).strip().upper()
    upright = data if row_order != "BOTTOM-UP" else data[::-1]
    zlow, zhigh = ZScaleInterval().get_limits(data)
    expected_limits = {
        "zscale": (float(zlow), float(zhigh)),
        "asinh": (float(zlow), float(data.max())),
        "linear": (float(data.min()), float(data.max())),
    }
    failures = []
    for width in (1, 200, 512, data.shape[1], 4096):
        for kind in ("zscale", "asinh", "linear"):
            url = "%sv1/frames/latest.png?width=%d&stretch=%s" % (base, width, kind)
            with urllib.request.urlopen(url, timeout=60) as reply:
                body = reply.read()
                headers = reply.headers
            if headers.get("Content-Type") != "image/png":
                failures.append("%s: Content-Type %s" % (url, headers.get("Content-Type")))
                continue
            png_width, png_height, grey, texts = decode_png(body)
            want_width = min(width, data.shape[1])
            want_height = max(1, min(data.shape[0], int(round(data.shape[0] * want_width / data.shape[1]))))
            low, high = float(headers["X-Stretch-Low"]), float(headers["X-Stretch-High"])
            expected = stretch(box_average(upright, png_width, png_height), *expected_limits[kind], kind)
            difference = np.abs(expected - grey.astype(np.float64))
            record = {"width": width, "stretch": kind, "png": [png_width, png_height], "bytes": len(body),
                      "low": low, "high": high, "expected": expected_limits[kind],
                      "max_grey_difference": float(difference.max()),
                      "exposure_id": headers.get("X-Exposure-Id"), "frame": headers.get("X-Frame-Number")}
            print(json.dumps(record))
            if (png_width, png_height) != (want_width, want_height):
                failures.append("%s: %dx%d, expected %dx%d" % (url, png_width, png_height, want_width, want_height))
            for name, got, wanted in (("low", low, expected_limits[kind][0]), ("high", high, expected_limits[kind][1])):
                if abs(got - wanted) > 1e-4 * max(1.0, abs(wanted)):
                    failures.append("%s: X-Stretch-%s %r, astropy gives %r" % (url, name.capitalize(), got, wanted))
            if difference.max() > 1:
                y, x = np.unravel_index(int(difference.argmax()), difference.shape)
                failures.append("%s: grey level %d at (%d, %d), expected %d" % (url, grey[y, x], x, y, expected[y, x]))
            for name in ("X-Exposure-Id", "X-Frame-Number"):
                if not headers.get(name):
                    failures.append("%s: no %s header" % (url, name))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
