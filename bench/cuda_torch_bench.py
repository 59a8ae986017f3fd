#!/usr/bin/env python3
"""PyTorch side of the GPU bundle's benchmark (run.sh): the same cases as srmds_cuda_bench, on the
same card, with the same weights (the b64_train / b64_fused files srmds_cuda_bench wrote), in one
process, so cuDNN's search (torch.backends.cudnn.benchmark) runs once per shape.

    python3 cuda_torch_bench.py --weights-dir DIR --out FILE.json [--budget SECONDS] [--reps N]
                                [--srmds-torch FOLDER]   (where srmds_torch.py is; default: beside
                                                          this file, then ../python)

Modes, in this order (each case of a mode is skipped, with the reason, when the budget runs out):
  eager_fp32        float32, TF32 off (torch.backends.cudnn.allow_tf32 = False)
  eager_tf32        float32, TF32 allowed for convolutions (PyTorch's default)
  bf16_cl           torch.autocast(bfloat16) with channels_last tensors and weights
  compile_tf32      torch.compile(model) (default mode), TF32 allowed; inference cases only, and only
                    when at least --compile-min seconds remain (compilation takes a while)
Cases: infer_fused_b1, infer_fused_b16 (fused form, eval, (B, 1, 512, 512)) and train_step_b8 (training
form: forward, deep-supervision BCE + Dice loss, backward, Adam step, (8, 1, 256, 256)).
Timing: one untimed pass (cuDNN search, compilation), one warm-up pass, then up to --reps passes
between CUDA events, alternating two random inputs; median, min, max reported.
Output: FILE.json, rewritten (atomically) after every case. Exit status 0, 1 on an error (a
torch.compile failure is reported, not counted), 77 when PyTorch sees no GPU (the file says so).
"""
import argparse
import json
import os
import sys
import time


def write_json(path, obj):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--budget", type=float, default=150.0)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--compile-min", type=float, default=90.0,
                   help="seconds that must remain to try torch.compile (default 90)")
    p.add_argument("--srmds-torch", default=None)
    return p.parse_args(argv)


DS_WEIGHTS = [8.0 / 15, 4.0 / 15, 2.0 / 15, 1.0 / 15]
CASES = [("infer_fused_b1", "infer", 1, 512), ("infer_fused_b16", "infer", 16, 512), ("train_step_b8", "train", 8, 256)]
MODES = ["eager_fp32", "eager_tf32", "bf16_cl", "compile_tf32"]


def main(argv):
    args = parse_args(argv)
    t0 = time.monotonic()
    out = {"program": "cuda_torch_bench.py", "budget_s": args.budget, "cases": []}
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        out.update(status="skipped", reason="PyTorch not importable: %s" % e)
        write_json(args.out, out)
        print(out["reason"])
        return 77
    out["torch"] = torch.__version__
    if not torch.cuda.is_available():
        out.update(status="skipped", reason="PyTorch sees no GPU (torch %s)" % torch.__version__)
        write_json(args.out, out)
        print(out["reason"])
        return 77
    here = os.path.dirname(os.path.abspath(__file__))
    for d in ([args.srmds_torch] if args.srmds_torch else []) + [here, os.path.join(here, "..", "python")]:
        if os.path.exists(os.path.join(d, "srmds_torch.py")):
            sys.path.insert(0, d)
            break
    import srmds_torch

    dev = torch.device("cuda")
    out["device"] = {"name": torch.cuda.get_device_name(0), "torch_cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version()}
    torch.backends.cudnn.benchmark = True
    train_path = os.path.join(args.weights_dir, "b64_train.safetensors")
    fused_path = os.path.join(args.weights_dir, "b64_fused.safetensors")
    out["weights"] = {"train": train_path, "fused": fused_path}
    write_json(args.out, out)

    def bce_dice(z, y):
        bce = F.binary_cross_entropy_with_logits(z, y)
        p = torch.sigmoid(z)
        inter = (p * y).sum(dim=(1, 2, 3))
        dice = (2 * inter + 1e-5) / (p.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3)) + 1e-5)
        return bce + 0.5 * (1 - dice.mean())

    def make_mask(batch, size, g):
        blocks = (torch.rand((batch, 1, size // 8, size // 8), generator=g) < 0.25).float()
        return F.interpolate(blocks, scale_factor=8, mode="nearest")

    def run_case(mode, kind, batch, size, share):
        torch.backends.cudnn.allow_tf32 = mode != "eager_fp32"
        torch.backends.cuda.matmul.allow_tf32 = mode != "eager_fp32"
        cl = mode == "bf16_cl"
        fmt = torch.channels_last if cl else torch.contiguous_format
        g = torch.Generator().manual_seed(11)
        xs = [torch.rand((batch, 1, size, size), generator=g).to(dev).contiguous(memory_format=fmt) for _ in range(2)]
        net = srmds_torch.SRMDSNet.from_file(fused_path if kind == "infer" else train_path).to(dev)
        if cl:
            net = net.to(memory_format=torch.channels_last)
        if kind == "infer":
            net.eval()
            model = torch.compile(net) if mode == "compile_tf32" else net

            def step(i):
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cl):
                    model(xs[i % 2])
        else:
            net.train()
            masks = [make_mask(batch, size, g).to(dev).contiguous(memory_format=fmt) for _ in range(2)]
            opt = torch.optim.Adam(net.parameters(), lr=5e-4)

            def step(i):
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cl):
                    zs = net(xs[i % 2])
                    loss = 0
                    for s, z in enumerate(zs):
                        y = masks[i % 2] if s == 0 else F.avg_pool2d(masks[i % 2], 2 ** s)
                        loss = loss + DS_WEIGHTS[s] * bce_dice(z.float(), y)
                loss.backward()
                opt.step()

        r = {}
        t = time.monotonic()
        step(0)
        torch.cuda.synchronize()
        r["first_ms"] = 1e3 * (time.monotonic() - t)
        step(1)
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ms = []
        t = time.monotonic()
        for i in range(args.reps):
            start.record()
            step(i)
            stop.record()
            stop.synchronize()
            ms.append(start.elapsed_time(stop))
            if len(ms) >= 3 and time.monotonic() - t > share:
                break
        s = sorted(ms)
        r.update(reps=len(ms), median_ms=s[len(s) // 2], min_ms=s[0], max_ms=s[-1], all_ms=ms,
                 images_per_s=batch / (s[len(s) // 2] / 1e3),
                 peak_bytes_allocated=torch.cuda.max_memory_allocated())
        del net, xs
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return r

    status = 0
    todo = [(m, c) for m in MODES for c in CASES if not (m == "compile_tf32" and c[1] == "train")]
    for i, (mode, (name, kind, batch, size)) in enumerate(todo):
        key = "%s_%s" % (name, mode)
        r = {"key": key, "mode": mode, "kind": kind, "batch": batch, "size": size, "base": 64}
        left = args.budget - (time.monotonic() - t0)
        need = args.compile_min if mode == "compile_tf32" else (15 if kind == "train" else 8)
        if left < need:
            r.update(status="skipped", reason="budget: %d s left, case needs %d s" % (left, need))
        elif mode == "compile_tf32" and not hasattr(torch, "compile"):
            r.update(status="skipped", reason="torch %s has no torch.compile" % torch.__version__)
        else:
            try:
                r.update(run_case(mode, kind, batch, size, max(1.0, 0.5 * left / (len(todo) - i))))
                r["status"] = "ok"
            except Exception as e:  # noqa: BLE001
                # torch.compile failing (no compiler toolchain, ...) is PyTorch's problem, not a failed run
                r.update(status="compile failed" if mode == "compile_tf32" else "error",
                         reason="%s: %s" % (type(e).__name__, str(e)[:500]))
                if mode != "compile_tf32":
                    status = 1
        line = "%-32s %s" % (key, r["status"])
        if "median_ms" in r:
            line += "  median %.2f ms (min %.2f, max %.2f, %d reps)  %.1f images/s  first pass %.0f ms" % (
                r["median_ms"], r["min_ms"], r["max_ms"], r["reps"], r["images_per_s"], r["first_ms"])
        if "reason" in r:
            line += "  (%s)" % r["reason"]
        print(line, flush=True)
        out["cases"].append(r)
        write_json(args.out, out)
    out["status"] = "ok" if status == 0 else "error"
    out["seconds"] = time.monotonic() - t0
    write_json(args.out, out)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
