#!/usr/bin/python3
"""Training slices against an independent reference (SPEC §7): the tensors a slice becomes in
training -- window, resize to the model size, lesion labels, random flips -- as the library's
SliceDataset makes them (tests/tools/train_parity_tool slices) equal a numpy/torch reference built
from the spec, for NIfTI, DICOM and 2-D image inputs.

Reference: NIfTI read with nibabel (get_fdata: scl_slope/scl_inter applied); a DICOM series
converted by dcm2niix and moved through the affines onto the grid io/dicom.hpp documents (voxel
(i, j, k) = column i, row j of the k-th slice along the normal; dcm2niix stores rows bottom-up),
cross-checked with pydicom's stored * slope + intercept; PNG written here by a pure-python encoder
(filters None/Sub/Up); JPEG decoded by a baseline decoder written here from ITU-T T.81 (float
IDCT). Window: clip to [lo, hi], (x - lo) / (hi - lo); none: min-max over the whole volume; 8-bit
images x / 255 whatever the window; 16-bit PNG min-max per slice. Slice k is data[:, :, k].T;
images resized with F.interpolate(bilinear, align_corners=False, antialias=False) in float64, masks
selected (label rounded to the nearest integer, in the set; empty set: > 0; JPEG mask: >= 128) and
resized with mode="nearest-exact". Images agree within 1e-6 (the library stores float32), JPEG
images within 2/255 (two IDCTs), masks exactly (JPEG masks: pixels within 1.5 levels of the
threshold are not compared); every served batch of epoch 0 (shuffle and flips) is image[index]
mirrored along W where flipped, exactly, and the served indices are a permutation of the slices.

Cases (model sizes H x W; the config needs multiples of 16):
 (1) NIfTI phantoms of `srmds phantom` (40 x 40 x 3, int16 HU, uint8 labels 0/1/2) at 32x32 (down),
     48x64 (up, not square) and 32x48; lung window, none and [-900, 100]; labels {1, 2}, {2} (config)
     and {1}, {2} (--labels); a non-square 32 x 48 volume with scl_slope 0.5 / scl_inter -1000 and a
     float mask (labels rounded, ties to even) stored with its first axis flipped (lined up by the
     affine), at 48x64, 16x32 and 32x48 (as is).
 (2) DICOM: an axial series (20 x 28, RescaleSlope 0.5, RescaleIntercept -1000) with its mask on
     dcm2niix's grid, and a coronal one (18 x 26) with its mask on the documented grid; alone and
     together.
 (3) 2-D: 8-bit grey PNG 50 x 37 (W x H) with a 0/255 mask, 8-bit grey+alpha 37 x 50 with a class
     mask 0..3, 16-bit 32 x 32 and 45 x 20 (min-max per slice, the window ignored); the C++ tests'
     JPEG fixture (24 x 16) as an image and as a mask; a mixed NIfTI + PNG (grey+alpha, class mask) + DICOM set.
 (4) flips and indices of the served batches, in every run.
Exit 77 (skipped) when numpy/torch/nibabel or the tools are missing; the DICOM case is skipped (a
printed line says so) without pydicom or dcm2niix.
Needs SRMDS_TOOLS_DIR (train_parity_tool) and SRMDS_CLI (the srmds CLI, for phantoms).
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import nibabel as nib
except ImportError as e:  # pragma: no cover - depends on the machine
    print("skipped: numpy/torch/nibabel not importable (%s)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SRMDS_SOURCE_DIR", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))
import srmds_torch as st  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "support"))
from baseline_jpeg import decode_grey_jpeg  # noqa: E402

TOOL = os.path.join(os.environ.get("SRMDS_TOOLS_DIR", ""), "train_parity_tool")
CLI = os.environ.get("SRMDS_CLI", "")
if not os.access(TOOL, os.X_OK):
    print("skipped: train_parity_tool not built (SRMDS_TOOLS_DIR)")
    sys.exit(77)
if not os.access(CLI, os.X_OK):
    print("skipped: srmds CLI not found (SRMDS_CLI)")
    sys.exit(77)

try:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError as e:  # pragma: no cover
    pydicom = None
    PYDICOM_ERROR = str(e)
DCM2NIIX = shutil.which("dcm2niix")

TOL = 1e-6
JPEG_TOL = 2.0 / 255.0
LUNG = [-1250.0, 250.0]

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# ---------------------------------------------------------------- reference (spec, numpy/torch)

def window_ref(vol, window):
    """Whole-volume window: clip + scale, or min-max over the finite values (0 when constant)."""
    vol = np.asarray(vol, dtype=np.float64)
    if window is None:
        fin = vol[np.isfinite(vol)]
        if fin.size == 0 or fin.min() == fin.max():
            return np.zeros_like(vol)
        lo, hi = float(fin.min()), float(fin.max())
    else:
        lo, hi = float(window[0]), float(window[1])
    out = (np.clip(vol, lo, hi) - lo) / (hi - lo)
    return np.where(np.isnan(vol), 0.0, out)


def lesion_ref(labels, label_set):
    """Labels rounded to the nearest integer (ties to even); in the set, or > 0 for an empty set."""
    labels = np.asarray(labels, dtype=np.float64)
    r = np.rint(np.where(np.isnan(labels), 0.0, labels))
    sel = r > 0 if not label_set else np.isin(r, np.array(label_set, dtype=np.float64))
    return sel.astype(np.float64)


def resize_image_ref(plane, size):
    if tuple(plane.shape) == tuple(size):
        return plane.copy()
    t = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float64))[None, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False, antialias=False)[0, 0].numpy()


def resize_mask_ref(plane, size):
    if tuple(plane.shape) == tuple(size):
        return plane.copy()
    t = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float64))[None, None]
    return F.interpolate(t, size=tuple(size), mode="nearest-exact")[0, 0].numpy()


def volume_ref(intensity, sel, size):
    """Slices (H, W) of a windowed (ni, nj, nk) volume and its 0/1 selection: data[:, :, k].T, resized."""
    return [(resize_image_ref(intensity[:, :, k].T, size), resize_mask_ref(sel[:, :, k].T, size))
            for k in range(intensity.shape[2])]


def as3d(a):
    a = np.asarray(a)
    return a[:, :, None] if a.ndim == 2 else a


def on_grid(values, affine_from, affine_to, shape_to):
    """values on the `from` grid sampled at the voxels of the `to` grid (same world positions,
    which must be voxel centres of `from`): the independent line-up by affine."""
    values = as3d(values)
    m = np.linalg.inv(affine_from) @ affine_to
    idx = np.indices(shape_to).reshape(3, -1)
    pts = m[:3, :3] @ idx + m[:3, 3:4]
    r = np.rint(pts).astype(int)
    off = np.abs(pts - r).max()
    inside = np.all((r >= 0) & (r < np.array(values.shape)[:, None]), axis=0)
    if off > 1e-3 or not inside.all():
        raise RuntimeError("grids do not line up (max offset %.3g voxels, %d of %d inside)" % (off, inside.sum(),
                                                                                             inside.size))
    return values[r[0], r[1], r[2]].reshape(shape_to)


# ---------------------------------------------------------------- files written here

def png_bytes(samples, bit_depth=8, alpha=None):
    """A grey (colour type 0) or grey+alpha (4) PNG; rows cycle through filters None, Sub, Up."""
    samples = np.asarray(samples)
    h, w = samples.shape
    chans = [samples] if alpha is None else [samples, np.asarray(alpha)]
    px = np.stack(chans, axis=2).reshape(h, w * len(chans))
    if bit_depth == 16:
        rows = px.astype(">u2").view(np.uint8).reshape(h, -1)
    else:
        rows = px.astype(np.uint8)
    bpp = len(chans) * bit_depth // 8
    raw = bytearray()
    prev = np.zeros(rows.shape[1], dtype=np.int32)
    for y in range(h):
        cur = rows[y].astype(np.int32)
        ftype = y % 3
        if ftype == 1:
            left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
            line = (cur - left) & 0xFF
        elif ftype == 2:
            line = (cur - prev) & 0xFF
        else:
            line = cur
        raw.append(ftype)
        raw.extend(line.astype(np.uint8).tobytes())
        prev = cur

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, 0 if alpha is None else 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) +
            chunk(b"IEND", b""))


def write_png(path, samples, bit_depth=8, alpha=None):
    with open(path, "wb") as f:
        f.write(png_bytes(samples, bit_depth, alpha))
    return path


def small_grey_jpeg():
    """The C++ tests' fixture (tests/support/small_grey_jpeg.inc): 24 x 16 grey, value ~ 8 x + 4 y."""
    text = open(os.path.join(SOURCE_DIR, "tests", "support", "small_grey_jpeg.inc")).read()
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
    return bytes(int(x, 16) for x in re.findall(r"0x[0-9a-fA-F]{2}", body))


def patch_scl(path, slope, inter):
    """Sets scl_slope / scl_inter of an uncompressed NIfTI-1 file (bytes 112..119)."""
    with open(path, "r+b") as f:
        f.seek(0)
        endian = "<" if struct.unpack("<i", f.read(4))[0] == 348 else ">"
        f.seek(112)
        f.write(struct.pack(endian + "ff", slope, inter))


def dicom_dataset(path, meta_sop_class, transfer_syntax):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = meta_sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Phantom^Slices"
    ds.PatientID = "1"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesNumber = 1
    return ds


def write_series(folder, rng, n, rows, cols, orientation, origin, dz, spacing, slope, inter):
    """A CT series (as tests/test_dicom_dcm2niix.py writes them): shuffled file names, InstanceNumber
    against the position, one RescaleSlope / RescaleIntercept."""
    uid = generate_uid()
    r, c = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(r, c)
    names = list(range(n))
    rng.shuffle(names)
    for k in range(n):
        stored = np.array([[rng.randint(-1000, 2600) for _ in range(cols)] for _ in range(rows)], dtype=np.int16)
        path = os.path.join(folder, "s%03d" % names[k])
        ds = dicom_dataset(path, "1.2.840.10008.5.1.4.1.1.2", ExplicitVRLittleEndian)
        ds.Modality = "CT"
        ds.SeriesInstanceUID = uid
        ds.SeriesDescription = "slices"
        ds.InstanceNumber = n - k
        pos = np.array(origin, float) + k * dz * normal
        ds.ImagePositionPatient = ["%.6f" % v for v in pos]
        ds.ImageOrientationPatient = ["%.6f" % v for v in orientation]
        ds.PixelSpacing = ["%.6f" % v for v in spacing]
        ds.SliceThickness = "%.6f" % dz
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = "%g" % slope
        ds.RescaleIntercept = "%g" % inter
        ds.PixelData = stored.tobytes()
        ds.save_as(path, write_like_original=False)


def documented_affine(folder):
    """io/dicom.hpp's grid from the DICOM attributes: slices by IPP . n ascending, voxel (i, j, k) =
    column i, row j; world_RAS = diag(-1, -1, 1) (p0 + i dc r + j dr c + k dz n). Also the HU volume
    (ni, nj, nk) from pydicom, for a cross-check of dcm2niix."""
    dss = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
    o = np.array([float(v) for v in dss[0].ImageOrientationPatient])
    r, c = o[:3], o[3:]
    n = np.cross(r, c)
    dss.sort(key=lambda d: float(np.dot([float(v) for v in d.ImagePositionPatient], n)))
    d = [float(np.dot([float(v) for v in x.ImagePositionPatient], n)) for x in dss]
    dz = (d[-1] - d[0]) / (len(d) - 1)
    dr, dc = (float(v) for v in dss[0].PixelSpacing)
    p0 = np.array([float(v) for v in dss[0].ImagePositionPatient])
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = dc * r, dr * c, dz * n, p0
    hu = np.stack([(x.pixel_array.astype(np.float64) * float(x.RescaleSlope) + float(x.RescaleIntercept)).T
                   for x in dss], axis=2)
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, hu


def dcm2niix(folder, outdir, name):
    os.makedirs(outdir, exist_ok=True)
    subprocess.run([DCM2NIIX, "-o", outdir, "-f", name, "-z", "n", "-b", "n", folder], check=True,
                   capture_output=True, text=True)
    nii = [f for f in os.listdir(outdir) if f.startswith(name) and f.endswith(".nii")]
    if len(nii) != 1:
        raise RuntimeError("dcm2niix wrote %s for %s" % (nii, folder))
    return nib.load(os.path.join(outdir, nii[0]))


# ---------------------------------------------------------------- the library's tensors

def run_tool(tmp, tag, config, images, masks, seed=0, batch=4, labels=None):
    out = os.path.join(tmp, tag + ".safetensors")
    cmd = [TOOL, "slices", "--config", json.dumps(config), "--images", ",".join(images), "--masks", ",".join(masks),
           "--out", out, "--seed", str(seed), "--batch", str(batch)]
    if labels:
        cmd += ["--labels", ",".join(str(l) for l in labels)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("train_parity_tool slices (%s) failed: %s" % (tag, proc.stderr.strip()))
    tensors, _ = st.read_safetensors(out)
    return {k: v.numpy() for k, v in tensors.items()}


def compare(label, t, expected, sources, image_tol=TOL, mask_skip=None):
    """expected: [(image, mask)] per slice in load order; sources: [(volume, k)]; mask_skip: per slice
    a boolean (H, W) of pixels not compared (JPEG masks near the threshold)."""
    n = len([k for k in t if k.startswith("image.")])
    if n != len(expected):
        check(False, "%s: %d slices, expected %d" % (label, n, len(expected)))
        return
    img_diff, mask_bad, skipped, src_ok, in_range = 0.0, 0, 0, True, True
    worst = None
    for i, (ei, em) in enumerate(expected[:n]):
        gi, gm = t["image.%d" % i], t["mask.%d" % i]
        if gi.shape != ei.shape or gm.shape != em.shape:
            check(False, "%s: slice %d shape %s / %s, expected %s" % (label, i, gi.shape, gm.shape, ei.shape))
            return
        d = np.abs(gi - ei)
        if d.max() > img_diff:
            img_diff = float(d.max())
            y, x = np.unravel_index(int(np.argmax(d)), d.shape)
            worst = (i, int(y), int(x), float(ei[y, x]), float(gi[y, x]))
        in_range &= bool(gi.min() >= 0.0 and gi.max() <= 1.0)
        bad = gm != em
        if mask_skip is not None:
            skipped += int(mask_skip[i].sum())
            bad &= ~mask_skip[i]
        if bad.any():
            ys, xs = np.nonzero(bad)
            print("     %s: slice %d mask differs at %d pixels, first (y %d, x %d): expected %g, got %g"
                  % (label, i, bad.sum(), ys[0], xs[0], em[ys[0], xs[0]], gm[ys[0], xs[0]]))
        mask_bad += int(bad.sum())
        src_ok &= [int(v) for v in t["source.%d" % i].reshape(-1)] == list(sources[i])
    if img_diff > image_tol and worst is not None:
        print("     %s: worst image pixel: slice %d (y %d, x %d), expected %.9g, got %.9g" % ((label,) + worst))
    check(img_diff <= image_tol and mask_bad == 0 and src_ok and in_range,
          "%s: %d slices, images max |difference| %.3g (tolerance %.3g), masks %d pixels differ%s%s%s"
          % (label, n, img_diff, image_tol, mask_bad,
             " (%d pixels near the JPEG threshold not compared)" % skipped if mask_skip is not None else "",
             "" if src_ok else ", WRONG sources", "" if in_range else ", images OUTSIDE [0, 1]"))
    check_served(label, t, n)


def check_served(label, t, n):
    """Case 4: the served batches of epoch 0 against the unflipped slices."""
    seen, diff, flips, ok = [], 0.0, 0, True
    j = 0
    while "served.images.%d" % j in t:
        imgs, msks = t["served.images.%d" % j], t["served.masks.%d" % j]
        idx = t["served.indices.%d" % j].reshape(-1).astype(int)
        flipped = t["served.flipped.%d" % j].reshape(-1)
        ok &= imgs.ndim == 4 and imgs.shape[1] == 1 and imgs.shape[0] == len(idx) == len(flipped) == msks.shape[0]
        for s, (i, f) in enumerate(zip(idx, flipped)):
            want_i, want_m = t["image.%d" % i], t["mask.%d" % i]
            if f:
                want_i, want_m = want_i[:, ::-1], want_m[:, ::-1]
            diff = max(diff, float(np.abs(imgs[s, 0] - want_i).max()), float(np.abs(msks[s, 0] - want_m).max()))
            ok &= f in (0.0, 1.0) and bool(np.isin(msks[s, 0], [0.0, 1.0]).all())
            flips += int(f)
            seen.append(int(i))
        j += 1
    check(ok and diff == 0.0 and sorted(seen) == list(range(n)),
          "%s: served %d batches, %d of %d mirrored, max |served - slice[index] (mirrored)| %.3g, indices %sa "
          "permutation" % (label, j, flips, len(seen), diff, "" if sorted(seen) == list(range(n)) else "NOT "))


# ---------------------------------------------------------------- cases

def case_nifti(tmp):
    ph = os.path.join(tmp, "phantoms")
    subprocess.run([CLI, "phantom", "--out", ph, "--count", "2", "--size", "40", "--slices", "3", "--seed", "5"],
                   check=True, capture_output=True, text=True, timeout=60)
    images = [os.path.join(ph, "phantom_%03d_image.nii.gz" % v) for v in range(2)]
    masks = [os.path.join(ph, "phantom_%03d_mask.nii.gz" % v) for v in range(2)]
    vols = [nib.load(p).get_fdata() for p in images]
    labs = [nib.load(p).get_fdata() for p in masks]
    check(all(np.issubdtype(nib.load(p).get_data_dtype(), np.integer) for p in images + masks) and
          set(np.unique(np.concatenate([l.ravel() for l in labs]))) == {0.0, 1.0, 2.0},
          "NIfTI: phantoms are integer HU images with labels 0, 1, 2")
    sources = [(v, k) for v in range(2) for k in range(3)]
    runs = [  # (tag, config, --labels, window, labels used, seed)
        ("32x32 lung window, labels {1,2}", {"base": 4, "input_size": [32, 32]}, None, LUNG, [1, 2], 0),
        ("48x64 no window, labels {2} (config)", {"base": 4, "input_size": [48, 64], "window": None,
                                                  "lesion_labels": [2]}, None, None, [2], 1),
        ("32x48 window [-900, 100], --labels 1", {"base": 4, "input_size": [32, 48], "window": [-900, 100]}, [1],
         [-900, 100], [1], 2),
        ("48x64 lung window, --labels 2", {"base": 4, "input_size": [48, 64]}, [2], LUNG, [2], 3),
    ]
    for i, (tag, cfg, cli_labels, window, label_set, seed) in enumerate(runs):
        t = run_tool(tmp, "nifti%d" % i, cfg, images, masks, seed=seed, labels=cli_labels)
        expected = []
        for vol, lab in zip(vols, labs):
            expected += volume_ref(window_ref(vol, window), lesion_ref(lab, label_set), cfg["input_size"])
        compare("NIfTI %s" % tag, t, expected, sources)

    # A non-square volume with scl_slope / scl_inter and a float label mask stored with its first
    # axis flipped (the library lines it up by the affine).
    rng = np.random.RandomState(7)
    ni, nj, nk = 48, 32, 2  # H 32, W 48
    raw = rng.randint(-600, 2400, size=(ni, nj, nk)).astype(np.int16)
    affine = np.array([[-0.7, 0, 0, 40.0], [0, 0.8, 0, -20.0], [0, 0, 2.5, 5.0], [0, 0, 0, 1]])
    img_path = os.path.join(tmp, "scaled.nii")
    nib.save(nib.Nifti1Image(raw, affine), img_path)
    patch_scl(img_path, 0.5, -1000.0)
    hu = nib.load(img_path).get_fdata()
    check(np.allclose(hu, raw * 0.5 - 1000.0), "NIfTI: scl_slope 0.5 / scl_inter -1000 read by nibabel")
    values = np.array([0.0, 0.4, 0.6, 1.2, 1.5, 2.4, 2.5, 2.6, 3.0, -1.0], dtype=np.float32)
    lab = values[rng.randint(0, len(values), size=(ni, nj, nk))]
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = ni - 1
    mask_path = os.path.join(tmp, "scaled_mask_flipped.nii.gz")
    nib.save(nib.Nifti1Image(lab[::-1].copy(), affine @ flip), mask_path)
    lab_on_grid = on_grid(nib.load(mask_path).get_fdata(), nib.load(mask_path).affine, affine, (ni, nj, nk))
    check(np.array_equal(lab_on_grid, lab), "NIfTI: flipped mask lines up by the affines (reference)")
    for i, (size, window, label_set) in enumerate([([48, 64], LUNG, [1, 2]), ([16, 32], None, [2, 3]),
                                                    ([32, 48], [-800, 150], [1])]):
        cfg = {"base": 4, "input_size": size, "window": window, "lesion_labels": label_set}
        t = run_tool(tmp, "scaled%d" % i, cfg, [img_path], [mask_path], seed=4 + i, batch=1)
        expected = volume_ref(window_ref(hu, window), lesion_ref(lab_on_grid, label_set), size)
        compare("NIfTI scaled 32x48 -> %dx%d, window %s, labels %s, flipped float mask" % (size[0], size[1], window,
                                                                                          label_set),
                t, expected, [(0, k) for k in range(nk)])
    return images[0], masks[0], vols[0], labs[0]


def case_dicom(tmp):
    rng = random.Random(2024)
    s_ax = os.path.join(tmp, "dicom_axial")
    s_co = os.path.join(tmp, "dicom_coronal")
    os.makedirs(s_ax)
    os.makedirs(s_co)
    write_series(s_ax, rng, n=4, rows=20, cols=28, orientation=(1, 0, 0, 0, 1, 0), origin=(-80.0, 10.0, -40.0),
                 dz=2.5, spacing=(0.8, 0.6), slope=0.5, inter=-1000.0)
    write_series(s_co, rng, n=3, rows=18, cols=26, orientation=(1, 0, 0, 0, 0, -1), origin=(-60.0, 30.0, 20.0),
                 dz=1.5, spacing=(0.9, 0.7), slope=1.0, inter=-1024.0)
    out = {}
    for tag, folder in (("axial", s_ax), ("coronal", s_co)):
        d2n = dcm2niix(folder, os.path.join(tmp, "d2n"), tag)
        ours_affine, hu_pydicom = documented_affine(folder)
        shape = hu_pydicom.shape
        hu = on_grid(d2n.get_fdata(), d2n.affine, ours_affine, shape)
        check(np.abs(hu - hu_pydicom).max() < 1e-3,
              "DICOM %s: dcm2niix's volume on the documented grid equals pydicom's stored * slope + intercept "
              "(dcm2niix row axis %s)" % (tag, "flipped" if np.linalg.det((np.linalg.inv(d2n.affine) @
                                                                            ours_affine)[:3, :3]) < 0 else "kept"))
        # Labels 0..3 in blobs, written on dcm2niix's grid (axial) or the documented one (coronal).
        yy, xx, kk = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
        lab = ((xx * 3 + yy * 2 + kk * 5) // 7 % 4).astype(np.uint8)
        lab[(xx - shape[1] // 3) ** 2 + (yy - shape[0] // 2) ** 2 < 16] = 0
        mask_path = os.path.join(tmp, "dicom_%s_mask.nii.gz" % tag)
        if tag == "axial":
            lab_d2n = on_grid(lab, ours_affine, d2n.affine, d2n.shape[:3] if len(d2n.shape) >= 3 else d2n.shape + (1,))
            nib.save(nib.Nifti1Image(lab_d2n.astype(np.uint8), d2n.affine), mask_path)
            back = on_grid(nib.load(mask_path).get_fdata(), d2n.affine, ours_affine, shape)
            check(np.array_equal(back, lab), "DICOM axial: mask on dcm2niix's grid maps back (reference)")
        else:
            nib.save(nib.Nifti1Image(lab, ours_affine), mask_path)
        out[tag] = (folder, mask_path, hu, lab.astype(np.float64))
    runs = [
        ("axial 20x28 -> 32x32, lung window, labels {1,2}", ["axial"], {"base": 4, "input_size": [32, 32]}, LUNG,
         [1, 2]),
        ("axial 20x28 -> 32x16, no window, labels {2}", ["axial"],
         {"base": 4, "input_size": [32, 16], "window": None, "lesion_labels": [2]}, None, [2]),
        ("axial + coronal -> 16x48, window [-1100, 400], labels {1,3}", ["axial", "coronal"],
         {"base": 4, "input_size": [16, 48], "window": [-1100, 400], "lesion_labels": [1, 3]}, [-1100, 400], [1, 3]),
    ]
    for i, (tag, series, cfg, window, label_set) in enumerate(runs):
        t = run_tool(tmp, "dicom%d" % i, cfg, [out[s][0] for s in series], [out[s][1] for s in series], seed=10 + i,
                     batch=3)
        expected, sources = [], []
        for v, s in enumerate(series):
            _, _, hu, lab = out[s]
            expected += volume_ref(window_ref(hu, window), lesion_ref(lab, label_set), cfg["input_size"])
            sources += [(v, k) for k in range(hu.shape[2])]
        compare("DICOM %s" % tag, t, expected, sources)
    return out["axial"]


def case_images(tmp):
    rng = np.random.RandomState(11)
    files = {}
    # 8-bit grey 50 x 37 (W x H) with a 0/255 mask; grey+alpha 37 x 50 with a class-label mask 0..3.
    a = rng.randint(0, 256, size=(37, 50))
    a_mask = np.zeros((37, 50), dtype=np.uint8)
    a_mask[8:20, 10:31] = 255
    a_mask[25:30, 40:48] = 255
    files["a"] = (write_png(os.path.join(tmp, "a.png"), a), write_png(os.path.join(tmp, "a_mask.png"), a_mask))
    b = rng.randint(0, 256, size=(50, 37))
    b_alpha = rng.randint(0, 256, size=(50, 37))
    yy, xx = np.mgrid[0:50, 0:37]
    b_mask = ((xx // 5 + yy // 7) % 4).astype(np.uint8)
    files["b"] = (write_png(os.path.join(tmp, "b.png"), b, alpha=b_alpha), write_png(os.path.join(tmp, "b_mask.png"),
                                                                                      b_mask))
    # 16-bit: 32 x 32 (as is) and 45 x 20 (resized), min-max per slice.
    c = rng.randint(1000, 40001, size=(32, 32))
    d = rng.randint(0, 65536, size=(20, 45))
    c_mask = (rng.rand(32, 32) < 0.3).astype(np.uint8) * 7
    d_mask = (rng.rand(20, 45) < 0.5).astype(np.uint8)
    files["c"] = (write_png(os.path.join(tmp, "c.png"), c, 16), write_png(os.path.join(tmp, "c_mask.png"), c_mask))
    files["d"] = (write_png(os.path.join(tmp, "d.png"), d, 16), write_png(os.path.join(tmp, "d_mask.png"), d_mask))
    ref_img = {"a": a / 255.0, "b": b / 255.0, "c": window_ref(c, None), "d": window_ref(d, None)}
    ref_lab = {"a": a_mask, "b": b_mask, "c": c_mask, "d": d_mask}

    def expected_for(keys, size, label_set):
        return [(resize_image_ref(ref_img[k], size), resize_mask_ref(lesion_ref(ref_lab[k], label_set), size))
                for k in keys]

    keys = ["a", "b", "c", "d"]
    runs = [  # (tag, config, --labels); the window never applies to 8-bit images, 16-bit are min-max
        ("PNG 8/16-bit -> 32x32, lung window, masks > 0", {"base": 4, "input_size": [32, 32]}, None),
        ("PNG 8/16-bit -> 48x32, no window, --labels 1,2", {"base": 4, "input_size": [48, 32], "window": None}, [1, 2]),
        ("PNG 8/16-bit -> 64x48, window [0, 10], --labels 3,7", {"base": 4, "input_size": [64, 48],
                                                                 "window": [0, 10]}, [3, 7]),
    ]
    for i, (tag, cfg, cli_labels) in enumerate(runs):
        t = run_tool(tmp, "png%d" % i, cfg, [files[k][0] for k in keys], [files[k][1] for k in keys], seed=20 + i,
                     batch=3, labels=cli_labels)
        compare("2-D %s" % tag, t, expected_for(keys, cfg["input_size"], cli_labels or []),
                [(v, 0) for v in range(len(keys))])

    # JPEG image (the C++ fixture, 24 x 16) with a PNG mask, and the JPEG as the mask of a PNG image.
    jpeg = small_grey_jpeg()
    jpg = os.path.join(tmp, "grey.jpg")
    with open(jpg, "wb") as f:
        f.write(jpeg)
    decoded = decode_grey_jpeg(jpeg)
    yy, xx = np.mgrid[0:16, 0:24]
    dev = np.abs(decoded - (8 * xx + 4 * yy)).max() if decoded.shape == (16, 24) else 999
    check(dev <= 6, "2-D JPEG: the reference decoder reads the fixture (16 x 24, 8 x + 4 y at quality 95), "
          "max |value - (8 x + 4 y)| %d" % dev)
    j_mask = ((xx - 12) ** 2 + (yy - 8) ** 2 < 30).astype(np.uint8)
    j_mask_png = write_png(os.path.join(tmp, "j_mask.png"), j_mask)
    e = rng.randint(0, 256, size=(16, 24))
    e_png = write_png(os.path.join(tmp, "e.png"), e)
    for i, size in enumerate([[16, 32], [32, 32]]):
        cfg = {"base": 4, "input_size": size}
        t = run_tool(tmp, "jpeg%d" % i, cfg, [jpg, e_png], [j_mask_png, jpg], seed=30 + i, batch=1)
        near = np.abs(decoded - 127.5) <= 1.5  # decoders may differ by a level or two at the threshold
        skip = [np.zeros(size, bool), resize_mask_ref(near.astype(np.float64), size) > 0]
        expected = [(resize_image_ref(decoded / 255.0, size), resize_mask_ref(lesion_ref(j_mask, []), size)),
                    (resize_image_ref(e / 255.0, size), resize_mask_ref((decoded >= 128).astype(np.float64), size))]
        compare("2-D JPEG image + JPEG mask (>= 128), H x W 16x24 -> %dx%d" % (size[0], size[1]), t, expected,
                [(0, 0), (1, 0)], image_tol=JPEG_TOL, mask_skip=skip)
        # The PNG image of the second pair is compared to 1e-6 within the JPEG tolerance above.
        d = float(np.abs(t["image.1"] - expected[1][0]).max())
        check(d <= TOL, "2-D JPEG case: the PNG image beside it, max |difference| %.3g" % d)
    return files["b"], ref_img["b"], ref_lab["b"]  # the class-label mask: {1, 2} selects part of it


def case_mixed(tmp, nifti, dicom, png):
    """One set of a NIfTI volume, a PNG slice and a DICOM series: each gets its own window."""
    n_img, n_mask, n_vol, n_lab = nifti
    (p_img, p_mask), p_ref, p_lab = png
    images, masks = [n_img, p_img], [n_mask, p_mask]
    window, label_set, size = [-1000, 0], [1, 2], [32, 48]
    expected = volume_ref(window_ref(n_vol, window), lesion_ref(n_lab, label_set), size)
    expected.append((resize_image_ref(p_ref, size), resize_mask_ref(lesion_ref(p_lab, label_set), size)))
    sources = [(0, k) for k in range(n_vol.shape[2])] + [(1, 0)]
    if dicom is not None:
        folder, mask_path, hu, lab = dicom
        images.append(folder)
        masks.append(mask_path)
        expected += volume_ref(window_ref(hu, window), lesion_ref(lab, label_set), size)
        sources += [(2, k) for k in range(hu.shape[2])]
    cfg = {"base": 4, "input_size": size, "window": window, "lesion_labels": label_set}
    t = run_tool(tmp, "mixed", cfg, images, masks, seed=40, batch=4, labels=label_set)
    compare("mixed NIfTI + PNG%s -> 32x48, window [-1000, 0] (not for the 8-bit PNG), labels {1,2}" % (
        " + DICOM" if dicom is not None else ""), t, expected, sources)


def main():
    tmp = tempfile.mkdtemp(prefix="srmds_slices_py_")
    have_dicom = pydicom is not None and DCM2NIIX is not None
    try:
        nifti = case_nifti(tmp)
        dicom = None
        if have_dicom:
            dicom = case_dicom(tmp)
        else:
            print("skipped: DICOM case (%s)" % ("pydicom not importable: " + PYDICOM_ERROR if pydicom is None
                                                else "dcm2niix not installed"))
        png = case_images(tmp)
        case_mixed(tmp, nifti, dicom, png)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
