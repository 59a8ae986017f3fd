#!/usr/bin/python3
"""Held-out Dice over several seeds: how much a training run's result depends on luck.

Generates a phantom training set and a separate test set (other generator seeds), then for each
variant and each seed trains with `srmds train`, evaluates the best file on the test set with
`srmds eval --json` and prints the test Dice (micro) and Inf-Net's Dice@0.5 and meanDic per seed,
with mean and sample standard deviation per variant.

    bench/seed_spread.py --cli build/apps/srmds/srmds --seeds 0,1,2,3,4 \\
        --variant "default:" --variant "ema:--ema 0.99"
    (variant "NAME:ARGS": ARGS are added to srmds train)

Defaults: 96 training and 64 test phantoms of 64 x 64, base 8, 60 epochs (about a minute a run
on two cores). --markdown prints the summary as a Markdown table.

--twin adds the PyTorch twin's training (python/srmds_train_torch.py, float32, same recipe and
data: the phantoms windowed to the lung window with nibabel, all training slices, no validation
split) as variant "twin": its last epoch's Dice on the test set, to compare with a variant that
passes --val-fraction 0 (srmds then keeps the last epoch too).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile


def run(cmd, log):
    with open(log, "a") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)


def phantom_pairs(cli, folder, count, size, seed, log):
    run([cli, "phantom", "--out", folder, "--count", str(count), "--size", str(size), "--seed", str(seed)], log)
    images = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith("_image.nii.gz"))
    return images, [p.replace("_image.nii.gz", "_mask.nii.gz") for p in images]


def twin_data(path, train, test):
    """The twin's data file: images, masks, val_images, val_masks (S, 1, H, W) from NIfTI pairs."""
    import nibabel as nib
    import numpy as np
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import srmds_torch as st

    def stack(images, masks):
        xs, ys = [], []
        for ip, mp in zip(images, masks):
            x = nib.load(ip).get_fdata()
            y = np.asarray(nib.load(mp).dataobj)
            for k in range(x.shape[2]):
                xs.append((np.clip(x[:, :, k].T, -1250, 250) + 1250) / 1500)
                ys.append((y[:, :, k].T > 0).astype(np.float32))
        return np.stack(xs)[:, None].astype(np.float32), np.stack(ys)[:, None]

    x, y = stack(*train)
    vx, vy = stack(*test)
    import torch
    st.write_safetensors(path, {k: torch.from_numpy(v) for k, v in
                                {"images": x, "masks": y, "val_images": vx, "val_masks": vy}.items()}, {})


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--variant", action="append", default=[], help="NAME:extra srmds train arguments")
    ap.add_argument("--train-count", type=int, default=96)
    ap.add_argument("--test-count", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--data-seed", type=int, default=101, help="phantom generator seed of the training set "
                    "(the test set uses this + 1)")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--twin", action="store_true", help="also train the PyTorch twin (see above)")
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    variants = [v.split(":", 1) for v in (a.variant or ([] if a.twin else ["default:"]))]
    work = a.workdir or tempfile.mkdtemp(prefix="srmds-seeds-")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "log.txt")
    train_images, train_masks = phantom_pairs(a.cli, os.path.join(work, "train"), a.train_count, a.size, a.data_seed, log)
    test_images, test_masks = phantom_pairs(a.cli, os.path.join(work, "test"), a.test_count, a.size, a.data_seed + 1, log)

    rows = []
    for name, extra in variants:
        results = []
        for seed in seeds:
            ck = os.path.join(work, "%s_%d.safetensors" % (name, seed))
            args = shlex.split(extra)
            defaults = [("--size", a.size), ("--base", a.base), ("--epochs", a.epochs), ("--seed", seed),
                        ("--log-every", 1000000)]
            for key, value in defaults:  # a variant's own value wins
                if key not in args:
                    args += [key, str(value)]
            run([a.cli, "train", "--images", ",".join(train_images), "--masks", ",".join(train_masks), "--out", ck]
                + args, log)
            metrics = os.path.join(work, "%s_%d.json" % (name, seed))
            run([a.cli, "eval", "--model", ck.replace(".safetensors", ".best.safetensors"), "--images",
                 ",".join(test_images), "--masks", ",".join(test_masks), "--json", metrics], log)
            with open(metrics) as f:
                m = json.load(f)
            results.append((m["micro"]["dice"], m["inf_net"]["dice_at_half"], m["inf_net"]["mean_dice"]))
            print("%-12s seed %d: test Dice %.4f  Dice@0.5 %.4f  meanDic %.4f" % ((name, seed) + results[-1]), flush=True)
        rows.append((name, extra, results))
    if a.twin:
        data = os.path.join(work, "twin_data.safetensors")
        twin_data(data, (train_images, train_masks), (test_images, test_masks))
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "srmds_train_torch.py")
        results = []
        for seed in seeds:
            cmd = ["/usr/bin/python3", script, "train", "--data", data, "--config", json.dumps({"base": a.base}),
                   "--epochs", str(a.epochs), "--seed", str(seed), "--threads", str(os.cpu_count() or 1)]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
            dice = json.loads(out.strip().splitlines()[-1])["val_dice"]
            results.append((dice, float("nan"), float("nan")))
            print("%-12s seed %d: test Dice %.4f" % ("twin", seed, dice), flush=True)
        rows.append(("twin", "(PyTorch, last epoch)", results))

    print("\nvariant       extra args                       " + " ".join("%7s" % ("s%d" % s) for s in seeds) +
          "    mean     sd   (test Dice, micro)")
    for name, extra, results in rows:
        d = [r[0] for r in results]
        sd = statistics.stdev(d) if len(d) > 1 else 0.0
        if a.markdown:
            print("| %s | `%s` | %s | %.4f | %.4f |" % (name, extra, " | ".join("%.4f" % v for v in d), statistics.mean(d), sd))
        else:
            print("%-13s %-32s %s  %.4f  %.4f" % (name, extra, " ".join("%7.4f" % v for v in d), statistics.mean(d), sd))
    print("work folder: %s" % work)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
