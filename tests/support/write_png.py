"""Writes a small 8-bit grey PNG for the CLI tests, with nothing but the standard library:
write_png.py PATH W H SEED [--mask]: a noisy image with a bright disc, or (--mask) the disc as 0/255."""
import random
import struct
import sys
import zlib


def png_bytes(rows, w, h):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    path, w, h, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mask = "--mask" in sys.argv[5:]
    rng = random.Random(seed)
    cy, cx, r = h / 2 + seed % 5, w / 3 + seed % 7, min(w, h) / 5
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            inside = (y - cy) ** 2 + (x - cx) ** 2 < r * r
            v = (255 if inside else 0) if mask else 60 + 120 * inside + rng.gauss(0, 10)
            row.append(max(0, min(255, int(round(v)))))
        rows.append(row)
    with open(path, "wb") as f:
        f.write(png_bytes(rows, w, h))


if __name__ == "__main__":
    main()
