"""Writes a small CT series with pydicom for the CLI tests:
write_series.py FOLDER N [--modality CT] [--rows 24] [--columns 20] [--uid UID] [--description D] [--z0 MM]
[--reversed] [--seed S]: N slices z00, z01, ... (explicit VR little endian, 16-bit signed, HU = value - 1024,
3 mm apart from z0, one SeriesInstanceUID); --reversed names and numbers them against their positions
(the reader must sort by position, never by file name or InstanceNumber)."""
import argparse
import os

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("n", type=int)
    ap.add_argument("--modality", default="CT")
    ap.add_argument("--rows", type=int, default=24)
    ap.add_argument("--columns", type=int, default=20)
    ap.add_argument("--uid", default=None)
    ap.add_argument("--description", default="chest")
    ap.add_argument("--z0", type=float, default=0.0)
    ap.add_argument("--reversed", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.folder, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    uid = a.uid or generate_uid()
    for k in range(a.n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset("x", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.SeriesDescription = a.modality, uid, a.description
        index = a.n - 1 - k if a.reversed else k  # file name and InstanceNumber
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [-20.0, -10.0, a.z0 + 3.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.6]
        ds.SliceThickness = 3.0
        ds.Rows, ds.Columns = a.rows, a.columns
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = rng.integers(0, 1400, (a.rows, a.columns)).astype(np.int16).tobytes()
        ds.save_as(os.path.join(a.folder, "z%02d" % index), write_like_original=False)


if __name__ == "__main__":
    main()
