"""Training recipe of SPEC §3 and §5 for the PyTorch twin (python/srmds_torch.py), written from the
spec alone (tests/test_train_parity.py replays srmds' C++ Trainer step by step with it).

Deep-supervision targets, scale s = 0..3, factor f = 2^s, mask (N, 1, H, W) in {0, 1}:
    average  y_s[i, j] = mean of the f x f block mask[f i : f i + f, f j : f j + f]   (SPEC default)
    nearest  y_s[i, j] = mask[f i, f j]          (the block's top-left pixel)
    max      y_s[i, j] = max of the f x f block
  y_0 = mask in every mode.
Loss of one scale, p = sigmoid(z), lambda = dice_weight, sums per sample n over its pixels:
    bce_dice(z, y) = mean_pixels BCEWithLogits(z, y)
                     + lambda (1 - mean_n (2 sum(p y) + 1e-5) / (sum p + sum y + 1e-5))
Deep supervision, w = [8, 4, 2, 1] / 15:
    native    L = sum_s w_s bce_dice(z_s, y_s)
    upsample  L = sum_s w_s bce_dice(up(z_s), mask), up = bilinear to (H, W) (align_corners from the
              config; z_0 as it is)
    off       L = bce_dice(z_0, mask)
Schedule (step = updates already applied, W warm-up steps, T total steps):
    lr = base (step + 1) / W              step < W
    lr = base 0.5 (1 + cos(pi (step - W) / (T - W)))   W <= step < T
    lr = 0                                step >= T
Optimizer: torch.optim.Adam (L2 weight decay g += wd p) or AdamW (decoupled, p -= lr wd p).
As srmds' Adam, every parameter is updated at every step: one without a gradient (heads 1..3
with ds off) gets a zero gradient, so its moments stay 0 and only weight decay moves it.

CLI:  srmds_train_torch.py train --data set.safetensors [...]   (see `train --help`)
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

import srmds_torch as st

DS_WEIGHTS = [8.0 / 15, 4.0 / 15, 2.0 / 15, 1.0 / 15]
DICE_SMOOTH = 1e-5


def targets(mask, mode="average"):
    """[y_0 .. y_3] from mask (N, 1, H, W); mode "average" | "nearest" | "max" (see module doc)."""
    out = [mask]
    for s in range(1, 4):
        f = 2 ** s
        if mode == "average":
            out.append(F.avg_pool2d(mask, f))
        elif mode == "nearest":
            out.append(mask[:, :, ::f, ::f].contiguous())
        elif mode == "max":
            out.append(F.max_pool2d(mask, f))
        else:
            raise ValueError("targets: mode must be average, nearest or max, got %r" % (mode,))
    return out


def bce_dice(z, y, dice_weight=0.5):
    """mean BCEWithLogits(z, y) + dice_weight (1 - mean_n (2 I_n + 1e-5) / (P_n + Y_n + 1e-5)),
    I_n = sum p y, P_n = sum p, Y_n = sum y over sample n, p = sigmoid(z)."""
    loss = F.binary_cross_entropy_with_logits(z, y)
    if dice_weight == 0:
        return loss
    p = torch.sigmoid(z)
    dims = tuple(range(1, z.dim()))
    dice = (2 * (p * y).sum(dims) + DICE_SMOOTH) / (p.sum(dims) + y.sum(dims) + DICE_SMOOTH)
    return loss + dice_weight * (1 - dice.mean())


def deep_supervision_loss(zs, mask, ds="native", target="average", weights=DS_WEIGHTS, dice_weight=0.5,
                          align_corners=True):
    """L of SPEC §3 from the logits [z_0 .. z_3] (z_s of size (H, W) / 2^s) and the mask (N, 1, H, W)."""
    if ds == "off":
        return bce_dice(zs[0], mask, dice_weight)
    if ds == "native":
        ys = targets(mask, target)
        return sum(w * bce_dice(z, y, dice_weight) for w, z, y in zip(weights, zs, ys))
    if ds == "upsample":
        size = tuple(mask.shape[2:])
        ups = [zs[0]] + [F.interpolate(z, size=size, mode="bilinear", align_corners=bool(align_corners))
                         for z in zs[1:]]
        return sum(w * bce_dice(u, mask, dice_weight) for w, u in zip(weights, ups))
    raise ValueError("deep_supervision_loss: ds must be native, upsample or off, got %r" % (ds,))


def warmup_cosine_lr(step, base, warmup, total):
    """The learning rate of the update after `step` updates (module doc); 0 <= warmup <= total."""
    if step < warmup:
        return base * (step + 1) / warmup
    if step >= total:
        return 0.0
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def schedule_steps(slices, batch, epochs, warmup_epochs):
    """(steps per epoch, warm-up steps W, total steps T) as srmds' Trainer forms them:
    ceil(S / B), min(round-half-up(warmup_epochs * steps per epoch), T), epochs * steps per epoch."""
    per_epoch = -(-slices // batch)
    total = epochs * per_epoch
    return per_epoch, min(int(math.floor(warmup_epochs * per_epoch + 0.5)), total), total


def make_optimizer(net, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    """Adam (or AdamW when decoupled) over every parameter; the lr is set per step by train_step."""
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(net.parameters(), lr=0.0, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
               foreach=False)


def train_step(net, opt, x, y, lr, **loss_options):
    """One update with learning rate lr; returns the loss (before the update) as a float.
    loss_options: ds, target, weights, dice_weight (align_corners comes from net.config)."""
    net.train()
    zs = net(x)
    loss = deep_supervision_loss(zs, y, align_corners=net.config["align_corners"], **loss_options)
    opt.zero_grad()
    loss.backward()
    for p in net.parameters():  # srmds steps every parameter (module doc)
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    return float(loss.detach())


def micro_dice(net, images, masks, batch):
    """2 TP / (2 TP + FP + FN) over all pixels, prediction z_0 >= 0 (eval mode); 1 when empty."""
    net.eval()
    tp = fp = fn = 0
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            pred = net(images[i:i + batch]) >= 0
            truth = masks[i:i + batch] > 0.5
            tp += int((pred & truth).sum())
            fp += int((pred & ~truth).sum())
            fn += int((~pred & truth).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def train_main(argv):
    ap = argparse.ArgumentParser(prog="srmds_train_torch.py train",
                                 description="Train the twin (float32, CPU) on a safetensors set holding images, "
                                             "masks, val_images, val_masks (S, 1, H, W; masks: lesion > 0)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", default="{}", help="net config JSON (SPEC §6)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ds", default="native", choices=["native", "upsample", "off"])
    ap.add_argument("--target", default="average", choices=["average", "nearest", "max"])
    ap.add_argument("--dice-weight", type=float, default=0.5)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--decoupled", action="store_true")
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--out", help="write the trained weights here (srmds file)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # PyTorch default init (SPEC §5)
    tensors, _ = st.read_safetensors(a.data)
    x, y = tensors["images"].float(), (tensors["masks"] > 0).float()
    vx, vy = tensors["val_images"].float(), (tensors["val_masks"] > 0).float()
    net = st.SRMDSNet(json.loads(a.config)).float()
    opt = make_optimizer(net, weight_decay=a.weight_decay, decoupled=a.decoupled)
    per_epoch, warmup, total = schedule_steps(x.shape[0], a.batch, a.epochs, a.warmup_epochs)
    gen = torch.Generator().manual_seed(a.seed)
    step, dice = 0, 0.0
    for epoch in range(a.epochs):
        start, order, loss_sum = time.time(), torch.randperm(x.shape[0], generator=gen), 0.0
        flip = (torch.rand(x.shape[0], generator=gen) < 0.5) & (not a.no_flip)
        for b in range(per_epoch):
            idx = order[b * a.batch:(b + 1) * a.batch]
            xb, yb = x[idx].clone(), y[idx].clone()
            xb[flip[idx]], yb[flip[idx]] = xb[flip[idx]].flip(-1), yb[flip[idx]].flip(-1)
            loss_sum += train_step(net, opt, xb, yb, warmup_cosine_lr(step, a.lr, warmup, total), ds=a.ds,
                                   target=a.target, dice_weight=a.dice_weight)
            step += 1
        dice = micro_dice(net, vx, vy, a.batch)
        print("epoch %d/%d loss %.5f val_dice %.4f (%.1f s)" % (epoch + 1, a.epochs, loss_sum / per_epoch, dice,
                                                                time.time() - start), flush=True)
    if a.out:
        net.save(a.out)
    print(json.dumps({"val_dice": dice, "seed": a.seed, "epochs": a.epochs}))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "train":
        print("usage: srmds_train_torch.py train --data set.safetensors [options]  (train --help)")
        return 2
    return train_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
