#!/usr/bin/python3
"""DICOM series against independent tools (SPEC §7): pydicom writes synthetic CT series and reads
the real ones it ships; dcm2niix converts the same series to NIfTI; srmds (tests/tools/dicom_tool)
must put every voxel at the same world position as dcm2niix's NIfTI with the same value, and the
values must equal pydicom's pixel_array * RescaleSlope + RescaleIntercept.

Synthetic series: axial and oblique orientations, int16 and uint16, BitsStored 12, per-slice
slope/intercept, file names shuffled and InstanceNumber running against the position; two series
in one folder (error listing both, then chosen by UID); a missing slice and a tilted series
(errors naming the files). Real: pydicom's CT_small.dcm (read through its file, in a folder full of
other DICOM files) and dicomdirtests/98892001/CT5N (InstanceNumber opposite to position).
Exit 77 (skipped) when pydicom, nibabel or dcm2niix is missing.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import nibabel as nib
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError as e:  # pragma: no cover
    print("skipped: numpy/nibabel/pydicom not importable (%s)" % e)
    sys.exit(77)

DCM2NIIX = shutil.which("dcm2niix")
if DCM2NIIX is None:
    print("skipped: dcm2niix not installed")
    sys.exit(77)
TOOL = os.path.join(os.environ.get("SRMDS_TOOLS_DIR", ""), "dicom_tool")
if not os.access(TOOL, os.X_OK):
    print("skipped: dicom_tool not built (SRMDS_TOOLS_DIR)")
    sys.exit(77)
PYDICOM_DATA = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write_series(folder, n=5, rows=12, cols=10, orientation=(1, 0, 0, 0, 1, 0), origin=(-80.0, 10.0, -40.0),
                 dz=2.5, spacing=(0.8, 0.6), signed=True, bits_stored=16, slopes=None, intercepts=None,
                 uid=None, description="synthetic", tilt_mm=0.0, skip=(), rng=None, prefix="f"):
    """Writes n slices (positions origin + k dz normal); returns (uid, files by position, HU volume)."""
    rng = rng or random.Random(1)
    uid = uid or generate_uid()
    r = np.array(orientation[:3], float)
    c = np.array(orientation[3:], float)
    normal = np.cross(r, c)
    names = list(range(n))
    rng.shuffle(names)
    files, hu = [], []
    for k in range(n):
        if k in skip:
            continue
        slope = slopes[k] if slopes else 1.0
        inter = intercepts[k] if intercepts else -1024.0
        lo, hi = (-2000, 2000) if signed else (0, 4000)
        if bits_stored < 16:
            lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
        stored = np.array([[rng.randint(lo, hi) for _ in range(cols)] for _ in range(rows)],
                          dtype=np.int16 if signed else np.uint16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = os.path.join(folder, "%s%03d" % (prefix, names[k]))
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientName = "Phantom^Test"
        ds.PatientID = "1"
        ds.StudyInstanceUID = "1.2.3.4"
        ds.SeriesInstanceUID = uid
        ds.SeriesDescription = description
        ds.SeriesNumber = 1
        ds.InstanceNumber = n - k  # against the position
        pos = np.array(origin, float) + k * dz * normal + np.array([0.0, k * tilt_mm, 0.0])
        ds.ImagePositionPatient = ["%.6f" % v for v in pos]
        ds.ImageOrientationPatient = ["%.6f" % v for v in orientation]
        ds.PixelSpacing = ["%.6f" % v for v in spacing]
        ds.SliceThickness = "%.6f" % dz
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = "%g" % slope
        ds.RescaleIntercept = "%g" % inter
        ds.PixelData = stored.tobytes()
        ds.save_as(path, write_like_original=False)
        files.append(path)
        hu.append(stored.astype(np.float64) * slope + inter)
    return uid, files, hu


def srmds_read(path, out, uid=None):
    cmd = [TOOL, "series", path, out] + ([uid] if uid else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def dcm2niix(folder, outdir, name):
    os.makedirs(outdir, exist_ok=True)
    subprocess.run([DCM2NIIX, "-o", outdir, "-f", name, "-z", "n", "-b", "n", folder], check=True,
                   capture_output=True, text=True)
    nii = [f for f in os.listdir(outdir) if f.startswith(name) and f.endswith(".nii")]
    assert len(nii) == 1, nii
    return nib.load(os.path.join(outdir, nii[0]))


def same_world(ours, theirs, label, atol_value=1e-3, compare_values=True):
    """Every voxel of ours lies on a voxel of theirs (same world position) with the same value."""
    a, b = ours.get_fdata(), theirs.get_fdata()
    if a.ndim == 2:
        a = a[:, :, None]
    if b.ndim == 2:
        b = b[:, :, None]
    m = np.linalg.inv(theirs.affine) @ ours.affine
    idx = np.indices(a.shape).reshape(3, -1)
    pts = m[:3, :3] @ idx + m[:3, 3:4]
    r = np.rint(pts).astype(int)
    frac = np.abs(pts - r).max()
    inside = np.all((r >= 0) & (r < np.array(b.shape)[:, None]), axis=0)
    check(frac < 1e-3 and inside.all() and a.size == b.size,
          "%s: each voxel on a dcm2niix voxel (max offset %.2g voxels, %d of %d inside)" % (label, frac, inside.sum(),
                                                                                             inside.size))
    if inside.all() and compare_values:
        diff = np.abs(a.reshape(-1) - b[r[0], r[1], r[2]]).max()
        check(diff <= atol_value, "%s: same values as dcm2niix (max |difference| %.3g)" % (label, diff))


def values_match(ours, hu_by_position, label):
    a = ours.get_fdata()
    if a.ndim == 2:
        a = a[:, :, None]
    want = np.stack([h.T for h in hu_by_position], axis=2)  # our slice k is data[:, :, k].T
    check(a.shape == want.shape and np.abs(a - want).max() < 1e-3,
          "%s: HU equal pydicom's stored * slope + intercept (%s)" % (label, a.shape))


def main():
    tmp = tempfile.mkdtemp(prefix="srmds_dicom_py_")
    rng = random.Random(12345)
    try:
        s = 0.5 ** 0.5
        cases = [
            ("axial int16", dict()),
            ("oblique int16", dict(orientation=(s, s, 0.0, -0.6 * s, 0.6 * s, -0.8))),
            ("coronal uint16", dict(orientation=(1, 0, 0, 0, 0, -1), signed=False, intercepts=[-1024.0] * 5)),
            # dcm2niix 1.0.20220720 masks 12-bit signed values without sign extension (-1512 -> 2584):
            # values compared with pydicom only, the geometry with dcm2niix.
            ("12-bit signed", dict(bits_stored=12, intercepts=[0.0] * 5)),
        ]
        for label, kw in cases:
            folder = os.path.join(tmp, label.replace(" ", "_"))
            os.makedirs(folder)
            uid, files, hu = write_series(folder, rng=rng, **kw)
            out = os.path.join(tmp, label.replace(" ", "_") + ".nii")
            res = srmds_read(folder, out)
            check(res["ok"] and res["files"] == files, "%s: read, slices ordered by position" % label)
            ours = nib.load(out)
            values_match(ours, hu, label)
            same_world(ours, dcm2niix(folder, os.path.join(tmp, "d2n"), label.replace(" ", "_")), label,
                       compare_values=not label.startswith("12-bit"))

        # Per-slice rescale (dcm2niix cannot keep it in one NIfTI: compared with pydicom only).
        folder = os.path.join(tmp, "rescale")
        os.makedirs(folder)
        uid, files, hu = write_series(folder, slopes=[1, 0.5, 2, 1, 0.25], intercepts=[-1024, -1000, 0, 7, -3], rng=rng)
        res = srmds_read(folder, os.path.join(tmp, "rescale.nii"))
        check(res["ok"], "per-slice slope/intercept: read")
        values_match(nib.load(os.path.join(tmp, "rescale.nii")), hu, "per-slice slope/intercept")

        # Two series in one folder.
        folder = os.path.join(tmp, "two")
        os.makedirs(folder)
        uid_a, files_a, hu_a = write_series(folder, description="chest", rng=rng)
        uid_b, _, _ = write_series(folder, n=3, description="scout", rng=random.Random(9), origin=(0, 0, 100),
                                   prefix="scout")
        res = srmds_read(folder, os.path.join(tmp, "two.nii"))
        err = res.get("error", "")
        check(not res["ok"] and uid_a in err and uid_b in err and '"chest" 5 slices' in err and '"scout" 3 slices' in err,
              "two series: an error listing both (%s)" % err[:160])
        res = srmds_read(folder, os.path.join(tmp, "two.nii"), uid_a)
        check(res["ok"] and res["files"] == files_a, "two series: the chosen one is read")

        # Missing slice, tilt.
        folder = os.path.join(tmp, "missing")
        os.makedirs(folder)
        _, files, _ = write_series(folder, n=6, skip=(3,), rng=rng)
        res = srmds_read(folder, os.path.join(tmp, "missing.nii"))
        check(not res["ok"] and "missing slice" in res["error"] and files[2] in res["error"] and files[3] in res["error"],
              "missing slice: an error naming the slices around the gap")
        folder = os.path.join(tmp, "tilt")
        os.makedirs(folder)
        _, files, _ = write_series(folder, n=5, tilt_mm=0.4, rng=rng)
        res = srmds_read(folder, os.path.join(tmp, "tilt.nii"))
        check(not res["ok"] and "tilt" in res["error"] and files[0] in res["error"] and files[1] in res["error"],
              "tilted series: an error naming the slices")
        check(not os.path.exists(os.path.join(tmp, "missing.nii")) and not os.path.exists(os.path.join(tmp, "tilt.nii")),
              "failed reads leave no output file")

        # Real files shipped with pydicom.
        ct_small = os.path.join(PYDICOM_DATA, "CT_small.dcm")
        ct5n = os.path.join(PYDICOM_DATA, "dicomdirtests", "98892001", "CT5N")
        if os.path.exists(ct_small):
            ds = pydicom.dcmread(ct_small)
            hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            out = os.path.join(tmp, "ct_small.nii")
            res = srmds_read(ct_small, out)
            check(res["ok"] and res["files"] == [ct_small], "CT_small.dcm: its own series from a folder of 70 files")
            values_match(nib.load(out), [hu], "CT_small.dcm")
            one = os.path.join(tmp, "ct_small_only")
            os.makedirs(one)
            shutil.copy(ct_small, one)
            same_world(nib.load(out), dcm2niix(one, os.path.join(tmp, "d2n"), "ct_small"), "CT_small.dcm")
        else:
            print("note: %s not installed" % ct_small)
        if os.path.isdir(ct5n):
            dss = [(f, pydicom.dcmread(os.path.join(ct5n, f))) for f in sorted(os.listdir(ct5n))]
            by_pos = sorted(dss, key=lambda t: float(t[1].ImagePositionPatient[2]))
            by_inst = sorted(dss, key=lambda t: int(t[1].InstanceNumber))
            check([f for f, _ in by_pos] == [f for f, _ in reversed(by_inst)], "CT5N: InstanceNumber runs against position")
            out = os.path.join(tmp, "ct5n.nii")
            res = srmds_read(ct5n, out)
            check(res["ok"] and [os.path.basename(f) for f in res["files"]] == [f for f, _ in by_pos],
                  "CT5N: slices ordered by position, not InstanceNumber or name")
            hu = [d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for _, d in by_pos]
            values_match(nib.load(out), hu, "CT5N")
            same_world(nib.load(out), dcm2niix(ct5n, os.path.join(tmp, "d2n"), "ct5n"), "CT5N")
        else:
            print("note: %s not installed" % ct5n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
