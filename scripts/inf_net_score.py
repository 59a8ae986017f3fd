#!/usr/bin/python3
"""Inf-Net's evaluation (EvaluationTool/main.m with Fmeasure_calu.m, SPEC section 4) of probability
maps at the masks' own size: what a user scoring `srmds segment`'s outputs against the radiologists'
masks gets, and how the withheld test split is judged from outside.

Usage: inf_net_score.py PROB_DIR GT_DIR [MASK_DIR] [--json OUT.json]
  PROB_DIR  <stem>.png: 8-bit maps q = round(255 p) (`srmds segment --prob-out DIR`)
  GT_DIR    <stem>.png: masks, lesion where the value is > 128 (main.m's rule)
  MASK_DIR  <stem>.png: binary masks to score as well (`srmds segment --output DIR`), as
            "mask_dice" (Dice per slice, 0 where TP = 0, averaged over slices)
Every map must have its mask's size. Prints one line of figures; --json writes them with the
keys of `srmds eval --json`'s "inf_net" object.

Written from main.m's steps, one threshold at a time, independently of the histogram form of srmds'
metrics/inf_net.hpp: the map is min-max normalised per slice (mapminmax; a constant map stays
q / 255), thresholded at t = 1, 254/255, ..., 0 with map >= t (compared exactly, in integers, as
inf_net.hpp does: with q spanning 0..255 every level is a tie that rounded doubles can break either
way, which moved maxDic by 2e-4 in a floating-point version of this script), and at each t the
slice's Dice, sensitivity, specificity and precision (each 0 where TP = 0; specificity 1 on a slice
without background) are averaged over slices; meanX and maxX are their mean and maximum over the
256 thresholds. Dice@0.5 is the Dice of p >= 0.5, that is q >= 128, 0 where TP = 0.
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def read_gray(path):
    a = np.asarray(Image.open(path))
    if a.ndim == 3:
        a = a[..., 0]
    return a


def slice_dice(pred, gt):
    tp = np.count_nonzero(pred & gt)
    return 0.0 if tp == 0 else 2.0 * tp / (np.count_nonzero(pred) + np.count_nonzero(gt))


def main(argv):
    out_json = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    prob_dir, gt_dir = argv[0], argv[1]
    mask_dir = argv[2] if len(argv) == 3 else None
    stems = sorted(os.path.splitext(f)[0] for f in os.listdir(prob_dir) if f.endswith(".png"))
    if not stems:
        sys.exit("inf_net_score.py: no .png maps in %s" % prob_dir)
    sums = {k: np.zeros(256) for k in ("dice", "sensitivity", "specificity", "precision")}
    dice_half = mask_dice = 0.0
    for stem in stems:
        q = read_gray(os.path.join(prob_dir, stem + ".png")).astype(np.int64)
        gt = read_gray(os.path.join(gt_dir, stem + ".png")) > 128
        if q.shape != gt.shape:
            sys.exit("inf_net_score.py: %s: map %s and mask %s differ in size" % (stem, q.shape, gt.shape))
        dice_half += slice_dice(q >= 128, gt)
        if mask_dir:
            mask = read_gray(os.path.join(mask_dir, stem + ".png")) > 0
            if mask.shape != gt.shape:
                sys.exit("inf_net_score.py: %s: mask %s and ground truth %s differ in size" % (stem, mask.shape, gt.shape))
            mask_dice += slice_dice(mask, gt)
        lo, hi = q.min(), q.max()
        lesion = np.count_nonzero(gt)
        for k in range(256):  # t = (255 - k) / 255; m >= t with m = (q - lo) / (hi - lo), or q / 255
            pred = (q - lo) * 255 >= (255 - k) * (hi - lo) if hi > lo else q >= 255 - k
            tp = np.count_nonzero(pred & gt)
            if tp == 0:
                continue
            npred = np.count_nonzero(pred)
            fp = npred - tp
            tn = gt.size - npred - (lesion - tp)
            sums["dice"][k] += 2.0 * tp / (npred + lesion)
            sums["sensitivity"][k] += tp / lesion
            sums["specificity"][k] += 1.0 if tn + fp == 0 else tn / (tn + fp)
            sums["precision"][k] += tp / npred
    n = len(stems)
    v = {"slices": n, "dice_at_half": dice_half / n}
    for key, s in sums.items():
        per_level = s / n
        v["mean_" + key] = float(per_level.mean())
        v["max_" + key] = float(per_level.max())
    if mask_dir:
        v["mask_dice"] = mask_dice / n
    print(" ".join("%s %.4f" % (k, x) for k, x in v.items() if k != "slices"), "(%d slices)" % n)
    if out_json:
        with open(out_json, "w") as f:
            json.dump(v, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
