#!/usr/bin/python3
"""Side-by-side speed of srmds (bench_network) and PyTorch (python/srmds_torch.py) on the same
network, weights, sizes, batch and thread count.

    /usr/bin/python3 bench/compare_pytorch.py [--build build-bench] [--device auto|cpu|cuda]
                                              [--threads N] [--reps R] [--out result.json] [--markdown]

Weights: written once per run by srmds_torch (SRMDSNet.randomize_, seeded) as srmds weight files:
base 64 training form, its fusion (PyTorch's float64 fusion, SPEC §2), base 16 training form. The
benchmark program reads them through SRMDS_BENCH_WEIGHTS; PyTorch loads the same files.
Threads: OMP_NUM_THREADS=N for our program, torch.set_num_threads(N) here (default: all CPUs).
Timing: our time is bench_network's real_time per iteration (after its untimed warm-up pass);
PyTorch's is the mean over iterations of at least --min-time seconds after a warm-up pass. The two
are interleaved rep by rep (alternating which goes first) and the table shows medians over reps.
Peak memory (CPU, fused inference 1x1x512x512): maximum resident set size of a separate process
doing only that (os.wait4 in a small wrapper process), ours = bench_network restricted to the case, PyTorch = this script's
--rss-child mode (so it includes the torch library itself, about 0.2-0.3 GB).
CUDA (--device cuda, or auto with a GPU): cudnn.benchmark=True; each case in strict fp32 and in
TF32 (ours: SRMDS_BENCH_TF32=0/1; PyTorch: allow_tf32 for cuDNN and matmul).
Exit status: 0 when every case ran (bars are reported, not enforced), 1 on a failed run.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
import srmds_torch  # noqa: E402

DS_WEIGHTS = [8.0 / 15, 4.0 / 15, 2.0 / 15, 1.0 / 15]


# ---- cases -----------------------------------------------------------------------------------
class Case:
    """kind: infer_fused | infer_train | train_step."""

    def __init__(self, key, kind, base, batch, size, tf32=None):
        self.key, self.kind, self.base, self.batch, self.size, self.tf32 = key, kind, base, batch, size, tf32

    def filter(self, device):
        if self.kind == "train_step":
            name = "net_train_step/%s" % device
        else:
            name = "net_infer/%s/form:%s" % (device, "fused" if self.kind == "infer_fused" else "train")
        return "^%s/base:%d/batch:%d/size:%d(/real_time)?$" % (name, self.base, self.batch, self.size)

    def title(self):
        what = {"infer_fused": "fused inference", "infer_train": "training-form eval inference",
                "train_step": "training step (all scales)"}[self.kind]
        t = "" if self.tf32 is None else (" TF32" if self.tf32 else " fp32")
        return "%s b%d %dx1x%dx%d%s" % (what, self.base, self.batch, self.size, self.size, t)


def cpu_cases():
    return [Case("infer_fused", "infer_fused", 64, 1, 512),
            Case("infer_train", "infer_train", 64, 1, 512),
            Case("train_step", "train_step", 16, 8, 128),
            Case("train_step_256", "train_step", 16, 8, 256)]


def cuda_cases():
    out = []
    for tf32 in (False, True):
        sfx = "_tf32" if tf32 else "_fp32"
        for b in (1, 8):
            out.append(Case("infer_fused_b%d%s" % (b, sfx), "infer_fused", 64, b, 512, tf32))
            out.append(Case("infer_train_b%d%s" % (b, sfx), "infer_train", 64, b, 512, tf32))
        out.append(Case("train_step_b16%s" % sfx, "train_step", 16, 8, 128, tf32))
        out.append(Case("train_step_b64%s" % sfx, "train_step", 64, 8, 256, tf32))
    return out


# ---- weights ---------------------------------------------------------------------------------
def write_weights(workdir, bases):
    """{(base, form): path}: random training-form nets (seeded) and the fusion of each."""
    files = {}
    for base in bases:
        net = srmds_torch.SRMDSNet({"base": base}, "train").randomize_(seed=base)
        train_path = os.path.join(workdir, "b%d_train.safetensors" % base)
        net.save(train_path)
        fused_path = os.path.join(workdir, "b%d_fused.safetensors" % base)
        net.fuse().save(fused_path)
        files[(base, "train")] = train_path
        files[(base, "fused")] = fused_path
    return files


# ---- our side --------------------------------------------------------------------------------
def our_env(args, weights, tf32=None):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["SRMDS_BENCH_WEIGHTS"] = ":".join(weights.values())
    if tf32 is not None:
        env["SRMDS_BENCH_TF32"] = "1" if tf32 else "0"
    return env


def run_ours(args, weights, case):
    """Milliseconds per iteration of one bench_network run of the case."""
    cmd = [args.bench, "--benchmark_filter=" + case.filter(args.device),
           "--benchmark_min_time=%g" % args.min_time, "--benchmark_format=json"]
    proc = subprocess.run(cmd, env=our_env(args, weights, case.tf32), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()[-2000:]))
    runs = [b for b in json.loads(proc.stdout)["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    if len(runs) != 1:
        raise RuntimeError("%s: expected one benchmark, got %d" % (case.filter(args.device), len(runs)))
    if runs[0].get("error_occurred"):
        raise RuntimeError("%s: %s" % (runs[0]["name"], runs[0].get("error_message")))
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[runs[0]["time_unit"]]
    return runs[0]["real_time"] * scale


# Runs argv[1:] and prints its peak RSS in KiB. A fresh small interpreter forks the command: Linux
# keeps a process's RSS high-water mark across exec, so a child forked from this (large) process
# would report at least our own size.
RSS_WRAPPER = ("import os, subprocess, sys\n"
               "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
               "_, status, usage = os.wait4(p.pid, 0)\n"
               "print(usage.ru_maxrss)\n"
               "sys.exit(1 if status else 0)\n")


def peak_rss_mb(cmd, env):
    """Maximum resident set size (MB) of one run of cmd."""
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER] + cmd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()[-2000:]))
    return int(proc.stdout.strip().splitlines()[-1]) / 1024.0  # ru_maxrss is in KiB on Linux


# ---- PyTorch side ----------------------------------------------------------------------------
def bce_dice(z, y):
    bce = F.binary_cross_entropy_with_logits(z, y)
    p = torch.sigmoid(z)
    inter = (p * y).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1e-5) / (p.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3)) + 1e-5)
    return bce + 0.5 * (1 - dice.mean())


class TorchRunner:
    """One case in PyTorch, built once; run(min_time) -> ms per iteration."""

    def __init__(self, case, weights, device):
        self.device = torch.device(device)
        self.case = case
        g = torch.Generator().manual_seed(11)
        shape = (case.batch, 1, case.size, case.size)
        self.x = torch.rand(shape, generator=g).to(self.device)
        form = "fused" if case.kind == "infer_fused" else "train"
        self.net = srmds_torch.SRMDSNet.from_file(weights[(case.base, form)]).to(self.device)
        if case.kind == "train_step":
            self.net.train()
            blocks = (torch.rand((case.batch, 1, case.size // 8, case.size // 8), generator=g) < 0.25).float()
            self.mask = F.interpolate(blocks, scale_factor=8, mode="nearest").to(self.device)
            self.opt = torch.optim.Adam(self.net.parameters(), lr=5e-4)
        else:
            self.net.eval()
        self.set_tf32()
        self.once()  # warm-up (cuDNN algorithm search, allocator)
        self.sync()

    def set_tf32(self):
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.allow_tf32 = bool(self.case.tf32)
            torch.backends.cuda.matmul.allow_tf32 = bool(self.case.tf32)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def once(self):
        if self.case.kind == "train_step":
            self.opt.zero_grad(set_to_none=True)
            zs = self.net(self.x)
            loss = 0
            for s, z in enumerate(zs):
                y = self.mask if s == 0 else F.avg_pool2d(self.mask, 2 ** s)
                loss = loss + DS_WEIGHTS[s] * bce_dice(z, y)
            loss.backward()
            self.opt.step()
        else:
            with torch.no_grad():
                self.net(self.x)

    def run(self, min_time):
        self.set_tf32()
        n, start = 0, time.perf_counter()
        while True:
            self.once()
            self.sync()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                return 1e3 * elapsed / n


def rss_child(argv):
    """--rss-child FUSED_FILE THREADS SIZE: one fused inference, for the peak-memory measurement."""
    path, threads, size = argv[0], int(argv[1]), int(argv[2])
    torch.set_num_threads(threads)
    net = srmds_torch.SRMDSNet.from_file(path).eval()
    with torch.no_grad():
        net(torch.rand(1, 1, size, size))


# ---- driver ----------------------------------------------------------------------------------
def default_build_dir():
    env = os.environ.get("SRMDS_BUILD_DIR")
    if env:
        return env
    for name in ("build-bench", "build"):
        if os.path.exists(os.path.join(ROOT, name, "bench", "bench_network")):
            return os.path.join(ROOT, name)
    return os.path.join(ROOT, "build")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=None, help="build folder holding bench/bench_network "
                                                 "(default: $SRMDS_BUILD_DIR, build-bench, build)")
    p.add_argument("--bench", default=None, help="path of bench_network (overrides --build)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both (default: all)")
    p.add_argument("--reps", type=int, default=None,
                   help="interleaved repetitions, median reported (default 5 on the CPU, 3 on the GPU)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds per timed measurement (default 1 on the CPU, 0.5 on the GPU)")
    p.add_argument("--cases", default=None, help="comma-separated case keys (default: all of the device)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--workdir", default=None, help="where the weight files go (default: a temporary folder)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = p.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: PyTorch sees no GPU")
    if args.reps is None:
        args.reps = 5 if args.device == "cpu" else 3
    if args.min_time is None:
        args.min_time = 1.0 if args.device == "cpu" else 0.5
    if args.bench is None:
        args.bench = os.path.join(args.build or default_build_dir(), "bench", "bench_network")
    if not os.path.isfile(args.bench):
        p.error("benchmark program not found: %s (build it with -DSRMDS_BUILD_BENCH=ON)" % args.bench)
    if args.threads < 1 or args.reps < 1:
        p.error("--threads and --reps must be positive")
    return args


def fmt_ms(v):
    return "-" if v is None else ("%.1f ms" % v if v < 1000 else "%.2f s" % (v / 1e3))


def print_table(rows, markdown):
    head = ("case", "ours", "PyTorch", "ratio ours/PyTorch")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, head))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, r)))


def main(argv):
    if argv and argv[0] == "--rss-child":
        rss_child(argv[1:])
        return 0
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = cpu_cases() if args.device == "cpu" else cuda_cases()
    if args.cases:
        keep = set(args.cases.split(","))
        unknown = keep - {c.key for c in cases}
        if unknown:
            sys.exit("compare_pytorch.py: unknown case(s) %s; known: %s"
                     % (", ".join(sorted(unknown)), ", ".join(c.key for c in cases)))
        cases = [c for c in cases if c.key in keep]

    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="srmds-compare-")
        workdir = tmp.name
    os.makedirs(workdir, exist_ok=True)
    weights = write_weights(workdir, sorted({c.base for c in cases}))

    print("srmds vs PyTorch %s on %s, %d thread(s), %d rep(s), device %s"
          % (torch.__version__, os.uname().nodename, args.threads, args.reps, args.device), flush=True)
    results = {}
    for case in cases:
        runner = TorchRunner(case, weights, args.device)
        ours, theirs = [], []
        for rep in range(args.reps):
            order = (0, 1) if rep % 2 == 0 else (1, 0)
            for who in order:
                if who == 0:
                    ours.append(run_ours(args, weights, case))
                else:
                    theirs.append(runner.run(args.min_time))
            print("  %-44s rep %d: ours %s, PyTorch %s" % (case.title(), rep + 1, fmt_ms(ours[-1]),
                                                           fmt_ms(theirs[-1])), flush=True)
        del runner
        results[case.key] = {"title": case.title(), "ours_ms": statistics.median(ours),
                             "pytorch_ms": statistics.median(theirs), "ours_all_ms": ours, "pytorch_all_ms": theirs,
                             "batch": case.batch}

    rows = []
    for key, r in results.items():
        rows.append((r["title"], fmt_ms(r["ours_ms"]), fmt_ms(r["pytorch_ms"]), "%.2f" % (r["ours_ms"] / r["pytorch_ms"])))
    # The fused form's speed-up over the training form (eval), on both sides.
    pairs = [("infer_fused", "infer_train")] + [("infer_fused_b%d%s" % (b, s), "infer_train_b%d%s" % (b, s))
                                                for s in ("_fp32", "_tf32") for b in (1, 8)]
    speedups = {}
    for f, t in pairs:
        if f in results and t in results:
            so = results[t]["ours_ms"] / results[f]["ours_ms"]
            st = results[t]["pytorch_ms"] / results[f]["pytorch_ms"]
            speedups[f] = {"ours": so, "pytorch": st}
            rows.append(("speed-up fused vs training form (%s)" % results[f]["title"].split(" ", 2)[2],
                         "%.2fx" % so, "%.2fx" % st, "-"))
    memory = None
    if args.device == "cpu" and not args.no_memory and any(c.key == "infer_fused" for c in cases):
        case = next(c for c in cases if c.key == "infer_fused")
        ours_mb = peak_rss_mb([args.bench, "--benchmark_filter=" + case.filter("cpu"), "--benchmark_min_time=0"],
                              our_env(args, {(64, "fused"): weights[(64, "fused")]}))
        torch_mb = peak_rss_mb([sys.executable, os.path.abspath(__file__), "--rss-child", weights[(64, "fused")],
                                str(args.threads), "512"], dict(os.environ))
        memory = {"ours_mb": ours_mb, "pytorch_mb": torch_mb}
        rows.append(("peak RSS, fused inference b64 1x1x512x512", "%.0f MiB" % ours_mb, "%.0f MiB" % torch_mb,
                     "%.2f" % (ours_mb / torch_mb)))

    print()
    print_table(rows, args.markdown)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": args.device, "threads": args.threads, "reps": args.reps, "torch": torch.__version__,
                       "bench": args.bench, "cases": results, "fused_speedup": speedups, "memory": memory},
                      f, indent=2)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except RuntimeError as e:
        print("compare_pytorch.py: %s" % e, file=sys.stderr)
        sys.exit(1)
