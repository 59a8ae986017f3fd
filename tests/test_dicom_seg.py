#!/usr/bin/python3
"""DICOM Segmentation output (issue 22 items 1 and 2) checked by independent readers.

`srmds segment --input SERIES --output lesions.dcm` (and `--dicom-seg FILE` beside a NIfTI mask) on
  - a small series made from pydicom's real CT file CT_small.dcm (three slices, its own patient,
    study, frame of reference and attributes, new SOP instances 5 mm apart), and
  - a synthetic oblique series (phantom HU values, tilted row and column cosines, files named
    against their positions),
must give an object that
  - dciodvfy (dicom3tools) reports no error on (its warnings are printed),
  - pydicom reads as Segmentation Storage, BINARY, one segment with the SCT codes, AUTOMATIC,
    the source's Study Instance UID, patient and Frame of Reference, one frame per slice whose
    Plane Position is that slice's ImagePositionPatient and whose Source Image reference is that
    slice's SOP Class/Instance UID, and whose frames equal the NIfTI mask `srmds segment` writes for
    the same series voxel for voxel;
  - highdicom (PyPI, in a virtual environment this test creates; that part is skipped with a
    message when pip cannot reach PyPI) reads back with the same mask, placed on the source series
    by referenced SOP instance and by highdicom's own volume geometry (get_volume's affine against
    the NIfTI's).
Refused with a clear error, and no file left: an MR series, a NIfTI input (--output .dcm and
--dicom-seg), a series without Study/Frame of Reference UIDs, a damaged slice, an output inside the
series folder. In a build without DCMTK the refusal says the build cannot write DICOM SEG.
Exit 77 (skipped) without the CLI, pydicom/numpy/nibabel or dciodvfy.
"""
import glob
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
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError as e:  # pragma: no cover
    print("skipped: numpy/nibabel/pydicom not importable (%s)" % e)
    sys.exit(77)

CLI = os.environ.get("SRMDS_CLI", "")
if not CLI or not os.access(CLI, os.X_OK):
    print("skipped: SRMDS_CLI not set or not executable")
    sys.exit(77)
DCIODVFY = shutil.which("dciodvfy")
PYDICOM_DATA = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def srmds(*args):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def no_file(path, what):
    folder = os.path.dirname(path) or "."
    temps = [f for f in os.listdir(folder) if "srmds-tmp" in f]
    check(not os.path.exists(path) and not temps, what + ": no file and no temporary file left")


# ---- fixtures -------------------------------------------------------------------------------------

def tiny_model(tmp):
    """A model at base 4, 32 px, trained briefly on phantoms."""
    ph = os.path.join(tmp, "ph")
    rc, _, err = srmds("phantom", "--out", ph, "--count", "2", "--size", "32", "--slices", "4", "--seed", "5")
    if rc != 0:
        sys.exit("phantom failed: " + err)
    imgs = sorted(glob.glob(os.path.join(ph, "*_image.nii.gz")))
    msks = sorted(glob.glob(os.path.join(ph, "*_mask.nii.gz")))
    ck = os.path.join(tmp, "ck.safetensors")
    # 30 epochs at lr 5e-3 (about 2 s): the last weights mark a few per cent of a phantom as lesion, so
    # the masks compared below hold both values.
    rc, _, err = srmds("train", "--images", ",".join(imgs), "--masks", ",".join(msks), "--out", ck, "--epochs", "30",
                       "--lr", "0.005", "--batch", "4", "--base", "4", "--size", "32", "--val-fraction", "0.25",
                       "--seed", "1")
    if rc != 0:
        sys.exit("train failed: " + err)
    return ck, imgs[0]


def write_slice(path, common, position, orientation, spacing, thickness, hu, number):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = CT_CLASS, meta.MediaStorageSOPInstanceUID
    for k, v in common.items():
        setattr(ds, k, v)
    ds.InstanceNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [round(float(x), 6) for x in position]
    ds.ImageOrientationPatient = [round(float(x), 8) for x in orientation]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = thickness
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
    ds.KVP, ds.AcquisitionNumber = 120, 1
    ds.PixelData = np.clip(np.round(hu + 1024), -32768, 32767).astype("<i2").tobytes()
    ds.save_as(path, write_like_original=False)


def oblique_series(folder, phantom, modality="CT", uids=True):
    """The phantom's HU slices as a CT series with tilted cosines; file names run against positions."""
    os.makedirs(folder)
    hu = np.asarray(nib.load(phantom).dataobj, dtype=np.float64)  # (ni, nj, nk)
    r = np.array([1.0, 0.3, 0.2])
    r /= np.linalg.norm(r)
    c = np.array([0.1, 1.0, -0.4])
    c -= c.dot(r) * r
    c /= np.linalg.norm(c)
    n = np.cross(r, c)
    common = {"Modality": modality, "SeriesInstanceUID": generate_uid(), "SeriesNumber": 3,
              "SeriesDescription": "oblique", "PatientName": "Oblique^Phantom", "PatientID": "OBL1",
              "PatientBirthDate": "", "PatientSex": "O", "StudyDate": "20260101", "StudyTime": "120000",
              "ReferringPhysicianName": "", "StudyID": "1", "AccessionNumber": "", "Manufacturer": "test",
              "PositionReferenceIndicator": ""}
    if uids:
        common.update({"StudyInstanceUID": generate_uid(), "FrameOfReferenceUID": generate_uid()})
    nk = hu.shape[2]
    for k in range(nk):
        pos = np.array([-30.0, 12.0, -50.0]) + 2.5 * k * n
        name = os.path.join(folder, "im%02d" % (nk - 1 - k))
        write_slice(name, common, pos, list(r) + list(c), [0.8, 0.7], 2.5, hu[:, :, k].T, nk - k)


def real_ct_series(folder):
    """Three slices from pydicom's CT_small.dcm: its attributes and pixels, new SOP instances 5 mm apart."""
    os.makedirs(folder)
    src = os.path.join(PYDICOM_DATA, "CT_small.dcm")
    for k in range(3):
        ds = pydicom.dcmread(src)
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ipp = [float(x) for x in ds.ImagePositionPatient]
        ds.ImagePositionPatient = [ipp[0], ipp[1], round(ipp[2] + 5.0 * k, 6)]
        ds.InstanceNumber = k + 1
        px = np.roll(ds.pixel_array, 7 * k, axis=1)
        ds.PixelData = px.astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(os.path.join(folder, "ct%d.dcm" % (2 - k)))


def source_slices(folder):
    """The series' files sorted along the slice normal (independently of srmds)."""
    dss = [pydicom.dcmread(f) for f in sorted(glob.glob(os.path.join(folder, "*")))]
    o = np.array([float(x) for x in dss[0].ImageOrientationPatient])
    n = np.cross(o[:3], o[3:])
    return sorted(dss, key=lambda d: float(np.dot(n, [float(x) for x in d.ImagePositionPatient])))


# ---- checks ---------------------------------------------------------------------------------------

def dciodvfy_check(path, name):
    if DCIODVFY is None:
        check(False, name + ": dciodvfy (dicom3tools) is not installed (scripts/install-deps.sh)")
        return
    r = subprocess.run([DCIODVFY, path], capture_output=True, text=True)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("Error")]
    warnings = [l for l in lines if l.startswith("Warning")]
    for w in warnings:
        print("     dciodvfy %s: %s" % (name, w))
    check(not errors, "%s: dciodvfy reports no error%s" % (name, "" if not errors else ": " + " | ".join(errors)))


def read_back(seg_path, slices, mask_kji, name):
    """pydicom: attributes, references and frames of the SEG against the source and the NIfTI mask."""
    seg = pydicom.dcmread(seg_path)
    src = slices[0]
    check(seg.SOPClassUID == SEG_CLASS and seg.Modality == "SEG", name + ": Segmentation Storage, modality SEG")
    check(seg.SegmentationType == "BINARY" and int(seg.BitsAllocated) == 1, name + ": BINARY, 1 bit")
    check(seg.StudyInstanceUID == src.StudyInstanceUID, name + ": the source's Study Instance UID")
    check(seg.FrameOfReferenceUID == src.FrameOfReferenceUID, name + ": the source's Frame of Reference UID")
    check(seg.PatientID == src.PatientID and str(seg.PatientName) == str(src.PatientName), name + ": the source's patient")
    check(seg.SeriesInstanceUID != src.SeriesInstanceUID, name + ": a series of its own")
    check(len(seg.SegmentSequence) == 1, name + ": one segment")
    s = seg.SegmentSequence[0]
    check(s.SegmentLabel == "COVID-19 lesion" and s.SegmentAlgorithmType == "AUTOMATIC" and s.SegmentAlgorithmName == "srmds",
          name + ": segment 'COVID-19 lesion', AUTOMATIC, srmds")
    cat, typ = s.SegmentedPropertyCategoryCodeSequence[0], s.SegmentedPropertyTypeCodeSequence[0]
    check((cat.CodeValue, cat.CodingSchemeDesignator, typ.CodeValue, typ.CodingSchemeDesignator) ==
          ("49755003", "SCT", "52988006", "SCT"), name + ": SCT 49755003 / 52988006")
    alg = s.SegmentationAlgorithmIdentificationSequence[0]
    check(alg.AlgorithmName == "srmds" and alg.AlgorithmVersion, name + ": algorithm srmds " + str(alg.AlgorithmVersion))
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), int(seg.Rows), int(seg.Columns))
    check(frames.shape[0] == len(slices), name + ": one frame per source slice (%d)" % frames.shape[0])
    by_uid = {d.SOPInstanceUID: k for k, d in enumerate(slices)}
    placed = np.full(mask_kji.shape, 255, np.uint8)
    ok_refs = ok_pos = True
    for f, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ref = item.DerivationImageSequence[0].SourceImageSequence[0]
        k = by_uid.get(ref.ReferencedSOPInstanceUID)
        if k is None or ref.ReferencedSOPClassUID != slices[k].SOPClassUID:
            ok_refs = False
            continue
        pos = [float(x) for x in item.PlanePositionSequence[0].ImagePositionPatient]
        ok_pos &= bool(np.allclose(pos, [float(x) for x in slices[k].ImagePositionPatient], atol=1e-4))
        placed[k] = frames[f]
    shared = seg.SharedFunctionalGroupsSequence[0]
    ori = [float(x) for x in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    check(np.allclose(ori, [float(x) for x in src.ImageOrientationPatient], atol=1e-6), name + ": the source's orientation")
    check(ok_refs, name + ": each frame's Source Image is a source slice (SOP Class and Instance UID)")
    check(ok_pos, name + ": each frame's Plane Position is its source slice's ImagePositionPatient")
    refd = {i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    check(refd == set(by_uid), name + ": Referenced Series Sequence lists every source slice")
    diff = int((placed != mask_kji).sum())
    check(diff == 0, "%s: frames placed by their referenced slices equal the NIfTI mask voxel for voxel "
                     "(%d voxels, %d lesion, %d differ)" % (name, mask_kji.size, int(mask_kji.sum()), diff))


HIGHDICOM_CHECK = r'''
import json, sys
import numpy as np
import highdicom as hd
seg_path, uids_path, mask_path, affine_path = sys.argv[1:5]
uids = json.load(open(uids_path))
mask = np.load(mask_path)          # (nk, rows, cols): slice k of the source, row j, column i
ras = np.load(affine_path)         # the NIfTI mask's affine: (i, j, k) -> RAS
seg = hd.seg.segread(seg_path)
out = {"version": hd.__version__}
arr = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1], combine_segments=True)
out["by_instance_differ"] = int((np.asarray(arr) != mask).sum()) if arr.shape == mask.shape else -1
try:
    vol = seg.get_volume(combine_segments=True)
    a = np.asarray(vol.array)
    if a.ndim == 4:
        a = a[..., 0]
    k, j, i = np.meshgrid(*[np.arange(s) for s in mask.shape], indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel(), np.ones(i.size)])
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras @ ijk           # our voxels in LPS (DICOM) world
    idx = np.linalg.inv(np.asarray(vol.affine)) @ lps           # -> highdicom's (slice, row, column)
    r = np.rint(idx[:3]).astype(int)
    out["volume_offgrid_mm"] = float(np.abs(idx[:3] - r).max())
    inside = all(((r[d] >= 0) & (r[d] < a.shape[d])).all() for d in range(3))
    out["volume_differ"] = int((a[r[0], r[1], r[2]] != mask.ravel()).sum()) if inside else -1
except Exception as e:  # get_volume needs a regularly spaced, parallel stack
    out["volume_error"] = repr(e)
print(json.dumps(out))
'''


def highdicom_python(tmp):
    """A venv with highdicom from PyPI (kept in the build folder between runs); None when pip fails."""
    base = os.environ.get("SRMDS_BINARY_DIR") or tmp
    venv = os.path.join(base, "test-venv-highdicom")
    py = os.path.join(venv, "bin", "python")
    if os.access(py, os.X_OK) and subprocess.run([py, "-c", "import highdicom"], capture_output=True).returncode == 0:
        return py
    r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], capture_output=True, text=True)
    if r.returncode != 0:
        print("skipped (highdicom): cannot create a virtual environment (python3-venv): " + r.stderr.strip()[-200:])
        return None
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--timeout", "30", "highdicom"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("skipped (highdicom): pip could not install highdicom from PyPI: " + r.stderr.strip()[-300:])
        return None
    return py


def highdicom_check(py, tmp, seg_path, slices, mask_kji, ras, name):
    if py is None:
        return
    uids_path = os.path.join(tmp, "uids.json")
    mask_path, affine_path, script = (os.path.join(tmp, n) for n in ("mask.npy", "affine.npy", "hd_check.py"))
    json.dump([d.SOPInstanceUID for d in slices], open(uids_path, "w"))
    np.save(mask_path, mask_kji)
    np.save(affine_path, ras)
    open(script, "w").write(HIGHDICOM_CHECK)
    r = subprocess.run([py, script, seg_path, uids_path, mask_path, affine_path], capture_output=True, text=True)
    if not check(r.returncode == 0, name + ": highdicom reads the SEG" + ("" if r.returncode == 0 else ": " + r.stderr[-600:])):
        return
    out = json.loads(r.stdout.strip().splitlines()[-1])
    check(out["by_instance_differ"] == 0, "%s: highdicom %s, pixels by source instance equal the NIfTI mask (%d differ)"
          % (name, out["version"], out["by_instance_differ"]))
    if "volume_error" in out:
        check(False, name + ": highdicom get_volume: " + out["volume_error"])
    else:
        check(out["volume_offgrid_mm"] < 1e-3 and out["volume_differ"] == 0,
              "%s: highdicom's volume geometry puts the SEG on the NIfTI mask's voxels (off grid %.2g, %d differ)"
              % (name, out["volume_offgrid_mm"], out["volume_differ"]))


def segment_series(tmp, model, series, name, py):
    out = os.path.join(tmp, name)
    os.makedirs(out)
    nii, seg1, nii2, seg2 = (os.path.join(out, n) for n in ("mask.nii.gz", "lesions.dcm", "mask2.nii.gz", "beside.dcm"))
    rc, _, err = srmds("segment", "--model", model, "--input", series, "--output", nii)
    ok = check(rc == 0, name + ": srmds segment to NIfTI" + ("" if rc == 0 else ": " + err))
    rc, so, err = srmds("segment", "--model", model, "--input", series, "--output", seg1)
    ok &= check(rc == 0 and os.path.exists(seg1), name + ": srmds segment --output lesions.dcm" +
                ("" if rc == 0 else ": " + err))
    rc, _, err = srmds("segment", "--model", model, "--input", series, "--output", nii2, "--dicom-seg", seg2)
    ok &= check(rc == 0 and os.path.exists(seg2) and os.path.exists(nii2),
                name + ": srmds segment --output mask2.nii.gz --dicom-seg beside.dcm" + ("" if rc == 0 else ": " + err))
    if not ok:
        return
    img = nib.load(nii)
    m = np.asarray(img.dataobj).astype(np.uint8)  # (ni, nj, nk)
    check(np.array_equal(m, np.asarray(nib.load(nii2).dataobj).astype(np.uint8)), name + ": --dicom-seg keeps the NIfTI mask")
    mask_kji = np.ascontiguousarray(np.transpose(m, (2, 1, 0)))
    print("     %s: mask %s, %d lesion voxels of %d" % (name, m.shape, int(m.sum()), m.size))
    check(0 < m.sum() < m.size, name + ": the mask has lesion and background voxels (a comparison that can fail)")
    slices = source_slices(series)
    for path, what in ((seg1, name + " lesions.dcm"), (seg2, name + " beside.dcm")):
        dciodvfy_check(path, what)
        read_back(path, slices, mask_kji, what)
        highdicom_check(py, out, path, slices, mask_kji, img.affine, what)


def refusals(tmp, model, nifti, supported):
    out = os.path.join(tmp, "refused")
    os.makedirs(out)
    seg = os.path.join(out, "x.dcm")
    mr = os.path.join(tmp, "mr")
    oblique_series(mr, nifti, modality="MR")
    want = "DICOM Segmentation references the DICOM series" if supported else "cannot write DICOM SEG"
    rc, _, err = srmds("segment", "--model", model, "--input", mr, "--output", seg)
    check(rc != 0 and ("is MR, not CT" if supported else want) in err, "an MR series is refused: " + err.strip()[:200])
    no_file(seg, "MR series")
    rc, _, err = srmds("segment", "--model", model, "--input", nifti, "--output", seg)
    check(rc == 2 and want in err, "a NIfTI input with --output .dcm is refused: " + err.strip()[:200])
    no_file(seg, "NIfTI input, --output .dcm")
    nii = os.path.join(out, "m.nii.gz")
    rc, _, err = srmds("segment", "--model", model, "--input", nifti, "--output", nii, "--dicom-seg", seg)
    check(rc == 2 and want in err, "a NIfTI input with --dicom-seg is refused: " + err.strip()[:200])
    no_file(seg, "NIfTI input, --dicom-seg")
    no_file(nii, "NIfTI input, --dicom-seg (the mask)")
    if not supported:
        return
    bare = os.path.join(tmp, "bare")  # tests/support/write_series.py: no Study or Frame of Reference UID
    subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "support", "write_series.py"), bare, "3"],
                   check=True)
    rc, _, err = srmds("segment", "--model", model, "--input", bare, "--output", seg)
    check(rc != 0 and "has no StudyInstanceUID" in err, "a series without Study Instance UID is refused: " + err.strip()[:200])
    no_file(seg, "series without UIDs")
    broken = os.path.join(tmp, "broken")
    oblique_series(broken, nifti)
    victim = sorted(glob.glob(os.path.join(broken, "*")))[1]
    data = open(victim, "rb").read()
    open(victim, "wb").write(data[: len(data) // 2])
    rc, _, err = srmds("segment", "--model", model, "--input", broken, "--output", seg)
    check(rc != 0 and os.path.basename(victim) in err, "a series with a truncated slice is refused: " + err.strip()[:200])
    no_file(seg, "truncated slice")
    inside = os.path.join(broken, "x.dcm")
    rc, _, err = srmds("segment", "--model", model, "--input", mr, "--output", os.path.join(mr, "x.dcm"))
    check(rc == 2 and "refusing to write into an input" in err, "a SEG inside the series folder is refused: " + err.strip()[:200])
    no_file(inside, "SEG inside the series folder")


def main():
    tmp = tempfile.mkdtemp(prefix="srmds_dicom_seg.")
    try:
        model, nifti = tiny_model(tmp)
        probe = os.path.join(tmp, "probe")
        oblique_series(probe, nifti)
        rc, _, err = srmds("segment", "--model", model, "--input", probe, "--output", os.path.join(tmp, "probe.dcm"))
        supported = "cannot write DICOM SEG" not in err
        if not supported:
            print("this build has no DCMTK: only the refusals are checked (%s)" % err.strip())
            check(rc == 2 and not os.path.exists(os.path.join(tmp, "probe.dcm")), "SEG output refused without DCMTK")
        else:
            py = highdicom_python(tmp)
            real = os.path.join(tmp, "real_ct")
            real_ct_series(real)
            segment_series(tmp, model, real, "real CT_small series", py)
            oblique = os.path.join(tmp, "oblique")
            oblique_series(oblique, nifti)
            segment_series(tmp, model, oblique, "synthetic oblique series", py)
        refusals(tmp, model, nifti, supported)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
