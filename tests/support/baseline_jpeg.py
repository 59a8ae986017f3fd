"""A reference JPEG decoder for the tests (no PIL or torchvision on the test machines): baseline
(SOF0) one-component 8-bit JPEG without restart intervals, written from ITU-T T.81."""
import struct

import numpy as np

ZIGZAG = np.array([0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
                   13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45,
                   38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63])


def decode_grey_jpeg(data):
    """A reference decoder for baseline (SOF0) one-component 8-bit JPEG without restart intervals,
    written from ITU-T T.81: Huffman decoding (F.2.2), dequantisation, the IDCT of A.3.3 in float64,
    level shift +128, rounding and clamping to 0..255. Returns (H, W) float64."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos, qt, ht, frame = 2, {}, {}, None
    while True:
        while data[pos] != 0xFF:
            pos += 1
        while data[pos] == 0xFF:
            pos += 1
        marker = data[pos]
        (length,) = struct.unpack(">H", data[pos + 1:pos + 3])
        seg = data[pos + 3:pos + 1 + length]
        pos += 1 + length
        if marker == 0xDB:  # quantisation tables, in zigzag order
            i = 0
            while i < len(seg):
                wide, n = seg[i] >> 4, 128 if seg[i] >> 4 else 64
                qt[seg[i] & 15] = np.frombuffer(seg[i + 1:i + 1 + n], dtype=">u2" if wide else np.uint8).astype(float)
                i += 1 + n
        elif marker == 0xC4:  # Huffman tables: canonical codes from the counts per length (C.2)
            i = 0
            while i < len(seg):
                counts, codes, code, k = list(seg[i + 1:i + 17]), {}, 0, 0
                syms = seg[i + 17:i + 17 + sum(counts)]
                for length_ in range(1, 17):
                    for _ in range(counts[length_ - 1]):
                        codes[(length_, code)] = syms[k]
                        k, code = k + 1, code + 1
                    code <<= 1
                ht[(seg[i] >> 4, seg[i] & 15)] = codes
                i += 17 + sum(counts)
        elif marker == 0xC0:
            prec, h, w, nc = struct.unpack(">BHHB", seg[:6])
            if prec != 8 or nc != 1 or seg[7] != 0x11:
                raise ValueError("reference decoder: only 8-bit one-component JPEG")
            frame = (h, w, seg[8])
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) or marker == 0xDD:
            raise ValueError("reference decoder: only baseline JPEG without restart intervals")
        elif marker == 0xDA:
            td, ta = seg[2] >> 4, seg[2] & 15
            break
    h, w, tq = frame
    scan = bytearray()  # the entropy-coded segment, 0xFF00 unstuffed, up to the next marker
    while not (data[pos] == 0xFF and data[pos + 1] != 0x00):
        scan.append(data[pos])
        pos += 2 if data[pos] == 0xFF else 1
    bits = np.unpackbits(np.frombuffer(bytes(scan), dtype=np.uint8))
    p = 0

    def receive(n):
        nonlocal p
        v = 0
        for _ in range(n):
            v, p = (v << 1) | int(bits[p]), p + 1
        return v

    def huff(table):
        code, n = 0, 0
        while n < 16:
            code, n = (code << 1) | receive(1), n + 1
            if (n, code) in table:
                return table[(n, code)]
        raise ValueError("reference decoder: bad Huffman code")

    def extend(v, t):
        return v - (1 << t) + 1 if t and v < (1 << (t - 1)) else v

    bh, bw = (h + 7) // 8, (w + 7) // 8
    cu = np.array([np.sqrt(0.5)] + [1.0] * 7)
    basis = cu[None, :] * np.cos((2 * np.arange(8)[:, None] + 1) * np.arange(8)[None, :] * np.pi / 16)  # [x, u]
    out = np.zeros((bh * 8, bw * 8))
    pred = 0
    for blk in range(bh * bw):
        zz = np.zeros(64)
        t = huff(ht[(0, td)])
        pred += extend(receive(t), t)
        zz[0], k = pred, 1
        while k < 64:
            rs = huff(ht[(1, ta)])
            r, t = rs >> 4, rs & 15
            if t == 0:
                if r != 15:
                    break  # end of block
                k += 16
                continue
            k += r
            zz[k] = extend(receive(t), t)
            k += 1
        coef = np.zeros(64)
        coef[ZIGZAG] = zz * qt[tq]
        by, bx = divmod(blk, bw)
        out[by * 8:by * 8 + 8, bx * 8:bx * 8 + 8] = 0.25 * basis @ coef.reshape(8, 8) @ basis.T + 128.0
    return np.clip(np.floor(out + 0.5), 0, 255)[:h, :w]
