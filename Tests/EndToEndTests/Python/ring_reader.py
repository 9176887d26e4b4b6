#!/usr/bin/env python3
"""Reads the newest frame from Aperture's shared-memory frame ring (docs/protocol.md,
"The frame ring"), as any peer on the machine can: map the file read-only, pick the slot with
the highest complete sequence, copy it, and check the slot's seqlock did not move meanwhile.

Usage: ring_reader.py RUNTIME_DIR/camera.frames OUTPUT.raw
Prints the frame's header as JSON and writes its pixels (little-endian uint16) to OUTPUT.raw.
"""
import json
import mmap
import struct
import sys

FILE_HEADER = struct.Struct("<8sIIQIIQQdiIQ")   # up to the header checksum, 72 bytes
SLOT_HEADER = struct.Struct("<QQqIIIIIIIIdddQ16s64s")


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def main():
    path, output = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        ring = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    (magic, version, header_size, generation, slots, slot_header_size, capacity, stride, created,
     writer_pid, _reserved, checksum) = FILE_HEADER.unpack_from(ring, 0)
    if magic != b"APFRAME1" or version != 1:
        sys.exit("not an Aperture frame ring (magic %r, version %d)" % (magic, version))
    if fnv1a64(ring[0:64]) != checksum:
        sys.exit("corrupt frame ring header: checksum mismatch")

    for _attempt in range(10):
        newest, newest_slot = 0, None
        for i in range(slots):
            (seqlock,) = struct.unpack_from("<Q", ring, header_size + i * stride)
            if seqlock and seqlock % 2 == 0 and seqlock > newest:
                newest, newest_slot = seqlock, i
        if newest_slot is None:
            sys.exit("the ring holds no complete frame")
        base = header_size + newest_slot * stride
        fields = SLOT_HEADER.unpack_from(ring, base)
        (seqlock, sequence, frame_number, width, height, pixel_type, flags, bin_x, bin_y, sub_x, sub_y,
         exposure_time, exposure_start, readout_time, pixel_bytes, image_type, exposure_id) = fields
        pixels = ring[base + slot_header_size: base + slot_header_size + pixel_bytes]
        (after,) = struct.unpack_from("<Q", ring, base)
        if after != seqlock:
            continue  # overwritten while copying: try the newest again
        with open(output, "wb") as out:
            out.write(pixels)
        print(json.dumps({
            "generation": generation, "slot": newest_slot, "sequence": sequence,
            "exposure_id": exposure_id.rstrip(b"\0").decode(), "frame_number": frame_number,
            "width": width, "height": height, "pixel_type": pixel_type,
            "preview": bool(flags & 1), "top_down": bool(flags & 2),
            "image_type": image_type.rstrip(b"\0").decode(), "exposure_time": exposure_time,
        }))
        return
    sys.exit("the writer kept overwriting the newest frame")


if __name__ == "__main__":
    main()
