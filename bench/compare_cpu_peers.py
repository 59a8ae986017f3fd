#!/usr/bin/python3
"""Fused-network CPU inference of srmds against the runtimes a CPU model is deployed with: OpenVINO
(fp32 and bf16 inference-precision hints), ONNX Runtime (fp32) and PyTorch, on the same weights,
inputs, sizes and thread count (issue 14).

    bash bench/setup_cpu_peers.sh                       # once: build/peers-venv with openvino, onnxruntime
    build/peers-venv/bin/python bench/compare_cpu_peers.py [--build build] [--base 64] [--size 512]
        [--batches 1,4] [--threads 2] [--reps 5] [--iters 3] [--warmup 2] [--model M] [--out R.json]

Weights: random (python/srmds_torch.py SRMDSNet.randomize_(seed), training form, base --base), fused
by the PyTorch twin in float64 (SPEC section 2) and written as an srmds fused weight file; or --model
(an srmds weight file, either form; a training-form file is fused the same way). `srmds export`
(<build>/apps/srmds/srmds, io/onnx_export.hpp) writes that file as ONNX (one static-shape model per
case, opset 17, output the logits z_0), which OpenVINO and ONNX Runtime run; ours
(bench/peer_forward.cpp, srmds_peer_forward in <build>/bench) and PyTorch read the weight file itself.
What is timed: one fused forward pass of z_0 for an N x 1 x S x S input (no sigmoid, no copies in
or out beyond what the runtime's own call does), after --warmup untimed passes, --iters timed
passes per process; the process reports its median.
Runs: every (case, rep) starts one fresh process per runtime, in an order rotated rep by rep
(interleaved, so slow drifts of a shared machine hit every runtime alike); the table shows the
median over --reps of those per-process medians, and the largest peak resident set size of the
processes: VmHWM from /proc/self/status, read by each process at its end (not ru_maxrss: a forked
child inherits the high-water mark of this script, torch included). Python workers include the
interpreter and the runtime's libraries; only the PyTorch worker imports torch.
OpenMP (ours, PyTorch) spins at barriers by default; on a machine shared with other jobs set
OMP_WAIT_POLICY=PASSIVE (the table header shows the value used), or the OpenMP runtimes collapse.
Threads: OMP_NUM_THREADS=T for every process, plus torch.set_num_threads(T), ONNX Runtime
intra_op_num_threads=T (inter-op 1) and OpenVINO INFERENCE_NUM_THREADS=T (LATENCY hint, 1 stream).
Agreement: max |p - p_ours| with p = sigmoid(z_0), against ours fp32 (and for bf16 runs also
against ours bf16), so that the table compares the same computation.
Ratio: ours / this = our median time (same precision: bf16 for the bf16 rows, fp32 otherwise)
divided by this runtime's; below 1 means ours is faster.
Output: a Markdown table (for bench/RESULTS.md) with the machine and the command line on stdout;
--out writes every measurement as JSON. Tiny check: --base 4 --size 64 --batches 1,2 --reps 2 --iters 1.
Exit status 0 when every run succeeded, 1 otherwise.
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNTIMES = ["ours-fp32", "ours-bf16", "openvino-fp32", "openvino-bf16", "onnxruntime-fp32", "pytorch-fp32"]


# ---- workers (one fresh process per runtime and repetition) ------------------------------------------
def worker_main(a):
    import time

    import numpy as np

    n, c, h, w = (int(v) for v in a.shape.split(","))
    x = np.fromfile(a.input, dtype=np.float32).reshape(n, c, h, w)
    name = a.worker
    if name.startswith("openvino"):
        import openvino as ov

        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": "bf16" if name.endswith("bf16") else "f32",
                  "INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        compiled = core.compile_model(core.read_model(a.onnx), "CPU", config)
        request = compiled.create_infer_request()

        def run():
            request.infer({0: x})
            return request.get_output_tensor(0).data

        version = ov.__version__
    elif name.startswith("onnxruntime"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def run():
            return session.run(None, {input_name: x})[0]

        version = ort.__version__
    elif name.startswith("pytorch"):
        import torch

        sys.path.insert(0, os.path.join(ROOT, "python"))
        import srmds_torch

        torch.set_num_threads(a.threads)
        net = fused_torch_net(srmds_torch, a.model)
        tx = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return net(tx).numpy()

        version = torch.__version__
    else:
        raise SystemExit("unknown worker " + name)
    for _ in range(a.warmup):
        z = run()
    ms = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        z = run()
        ms.append(1e3 * (time.perf_counter() - t0))
    if a.z_out:
        np.ascontiguousarray(z, dtype=np.float32).tofile(a.z_out)
    print(json.dumps({"ms": ms, "median_ms": statistics.median(ms), "version": version, "threads": a.threads,
                      "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb():
    """VmHWM of this process in MB (-1 where /proc is not available)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0


def fused_torch_net(srmds_torch, path):
    net = srmds_torch.SRMDSNet.from_file(path)
    if net.form == "train":
        net = net.fuse()
    return net.float().eval()


# ---- the driver -------------------------------------------------------------------------------------
def parse_list(text):
    return [int(v) for v in text.split(",") if v.strip()]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def run_process(cmd, env):
    """Runs cmd, returns (exit status, stdout text)."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s\n" % (p.returncode, " ".join(map(shlex.quote, cmd)),
                                                           p.stderr.decode(errors="replace")[-4000:]))
    return p.returncode, p.stdout.decode(errors="replace")


def sigmoid(z):
    import numpy as np

    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding bench/srmds_peer_forward")
    ap.add_argument("--base", type=int, default=64, help="base width of the random network")
    ap.add_argument("--size", type=int, default=512, help="input size S (S x S, a multiple of 16)")
    ap.add_argument("--batches", default="1,4", help="batch sizes N, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (one process per runtime each)")
    ap.add_argument("--iters", type=int, default=3, help="timed passes per process")
    ap.add_argument("--warmup", type=int, default=2, help="untimed passes per process")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help="subset of " + ",".join(RUNTIMES))
    ap.add_argument("--model", help="srmds weight file (either form) instead of random weights")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="keep weights, ONNX models and outputs here (default: a temporary folder)")
    ap.add_argument("--out", help="write every measurement as JSON")
    # internal: one worker process
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", help=argparse.SUPPRESS)
    ap.add_argument("--z-out", dest="z_out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker_main(a)

    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(ROOT, "python"))
    import srmds_torch

    runtimes = [r for r in a.runtimes.split(",") if r]
    for r in runtimes:
        if r not in RUNTIMES:
            ap.error("unknown runtime %r (choose from %s)" % (r, ", ".join(RUNTIMES)))
    if "ours-fp32" not in runtimes:
        ap.error("ours-fp32 is the reference of the ratios and the agreement check: keep it in --runtimes")
    if a.size % 16 or a.size <= 0:
        ap.error("--size must be a positive multiple of 16")
    ours_bin = os.path.join(a.build, "bench", "srmds_peer_forward")
    if any(r.startswith("ours") for r in runtimes) and not os.access(ours_bin, os.X_OK):
        ap.error("%s not found: build it (cmake --build %s --target srmds_peer_forward)" % (ours_bin, a.build))
    cli_bin = os.path.join(a.build, "apps", "srmds", "srmds")
    if any(r.startswith(("openvino", "onnxruntime")) for r in runtimes) and not os.access(cli_bin, os.X_OK):
        ap.error("%s not found: build it (cmake --build %s --target srmds_cli); it exports the ONNX model"
                 % (cli_bin, a.build))
    batches = parse_list(a.batches)
    tmp = None
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
        work = a.workdir
    else:
        tmp = tempfile.TemporaryDirectory(prefix="srmds_peers_")
        work = tmp.name

    # Weights: one srmds fused file that every runtime uses (directly or through ONNX).
    torch.manual_seed(a.seed)
    if a.model:
        weights = os.path.abspath(a.model)
        net = fused_torch_net(srmds_torch, weights)
        what = "weights %s" % a.model
    else:
        train = srmds_torch.SRMDSNet({"base": a.base, "input_size": [a.size, a.size]}, "train")
        train.randomize_(seed=a.seed)
        net = train.eval().fuse()
        weights = os.path.join(work, "fused_base%d.safetensors" % a.base)
        net.save(weights)
        what = "random fused weights, base %d (srmds_torch randomize_(seed=%d), fused in float64)" % (a.base, a.seed)
    base = net.config["base"]

    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(a.threads)
    results = {"command": " ".join(map(shlex.quote, [sys.executable] + sys.argv)), "machine": cpu_model(),
               "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in cpu_flags(), "threads": a.threads,
               "weights": what, "base": base, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
               "cases": []}
    ok = True
    for n in batches:
        key = "%dx1x%dx%d" % (n, a.size, a.size)
        x = np.random.default_rng(a.seed + n).random((n, 1, a.size, a.size), dtype=np.float32)
        x_path = os.path.join(work, "x_%s.bin" % key)
        x.tofile(x_path)
        onnx_path = os.path.join(work, "fused_%s.onnx" % key)
        if any(r.startswith(("openvino", "onnxruntime")) for r in runtimes):
            rc, _ = run_process([cli_bin, "export", "--model", weights, "--out", onnx_path, "--batch", str(n),
                                 "--size", "%dx%d" % (a.size, a.size), "--output", "logits"], env)
            if rc != 0:
                return 1
        case = {"case": key, "runs": {r: {"ms": [], "rss_mb": [], "info": None} for r in runtimes}}
        for rep in range(a.reps):
            order = runtimes[rep % len(runtimes):] + runtimes[:rep % len(runtimes)]
            for r in order:
                z_out = os.path.join(work, "z_%s_%s.bin" % (key, r)) if rep == 0 else ""
                if r.startswith("ours"):
                    cmd = [ours_bin, "--model", weights, "--input", x_path, "--shape", "%d,1,%d,%d" % (n, a.size, a.size),
                           "--precision", r.split("-")[1], "--warmup", str(a.warmup), "--iters", str(a.iters)]
                    if z_out:
                        cmd += ["--out", z_out]
                else:
                    cmd = [sys.executable, os.path.abspath(__file__), "--worker", r, "--input", x_path, "--shape",
                           "%d,1,%d,%d" % (n, a.size, a.size), "--onnx", onnx_path, "--model", weights,
                           "--threads", str(a.threads), "--warmup", str(a.warmup), "--iters", str(a.iters)]
                    if z_out:
                        cmd += ["--z-out", z_out]
                rc, text = run_process(cmd, env)
                if rc != 0:
                    ok = False
                    continue
                info = json.loads(text.strip().splitlines()[-1])
                rss = info.get("peak_rss_mb", -1.0)
                run = case["runs"][r]
                run["ms"].append(info["median_ms"])
                run["rss_mb"].append(rss)
                run["info"] = {k: v for k, v in info.items() if k not in ("ms", "median_ms", "peak_rss_mb")}
                print("  %s rep %d %-17s %9.2f ms  %7.0f MB" % (key, rep, r, info["median_ms"], rss), file=sys.stderr)
        # Agreement of the probabilities (rep 0 outputs).
        zs = {}
        for r in runtimes:
            path = os.path.join(work, "z_%s_%s.bin" % (key, r))
            if os.path.exists(path):
                zs[r] = sigmoid(np.fromfile(path, dtype=np.float32))
        for r, run in case["runs"].items():
            run["median_ms"] = statistics.median(run["ms"]) if run["ms"] else None
            run["peak_rss_mb"] = max(run["rss_mb"]) if run["rss_mb"] else None
            if r in zs and "ours-fp32" in zs:
                run["max_dp_vs_ours_fp32"] = float(np.max(np.abs(zs[r] - zs["ours-fp32"])))
            if r in zs and "ours-bf16" in zs:
                run["max_dp_vs_ours_bf16"] = float(np.max(np.abs(zs[r] - zs["ours-bf16"])))
        results["cases"].append(case)

    versions = {}
    for case in results["cases"]:
        for r, run in case["runs"].items():
            if run["info"]:
                versions[r.split("-")[0]] = run["info"].get("version") or run["info"].get("kernel")
    results["versions"] = versions
    print_markdown(results)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    if tmp:
        tmp.cleanup()
    return 0 if ok else 1


def print_markdown(res):
    names = {"ours-fp32": "srmds fp32", "ours-bf16": "srmds bf16", "openvino-fp32": "OpenVINO fp32",
             "openvino-bf16": "OpenVINO bf16", "onnxruntime-fp32": "ONNX Runtime fp32", "pytorch-fp32": "PyTorch fp32"}
    v = res["versions"]
    kernel = "-"
    for case in res["cases"]:
        info = case["runs"].get("ours-bf16", {}).get("info")
        if info:
            kernel = info.get("kernel", "-")
    print("Fused SR&MDS-Net inference on the CPU, base %d, %d threads (OMP_WAIT_POLICY %s): %s, %s cores, "
          "AVX512_BF16 %s." % (res["base"], res["threads"], res["omp_wait_policy"], res["machine"], res["cores"],
                               "yes" if res["avx512_bf16"] else "no"))
    print("%s. Versions: OpenVINO %s, ONNX Runtime %s, PyTorch %s; srmds bf16 kernel: %s." % (
        res["weights"][0].upper() + res["weights"][1:], v.get("openvino", "-"), v.get("onnxruntime", "-"),
        v.get("pytorch", "-"), kernel))
    print("Command: `%s`" % res["command"])
    print()
    print("| input | runtime | median ms | ours / this | peak RSS MB | max abs(p - p_ours fp32) | max abs(p - p_ours bf16) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case in res["cases"]:
        runs = case["runs"]
        for r, run in runs.items():
            ref = runs.get("ours-bf16") if r.endswith("bf16") and "ours-bf16" in runs else runs.get("ours-fp32")
            ratio = "-"
            if run["median_ms"] and ref and ref["median_ms"]:
                ratio = "%.2f" % (ref["median_ms"] / run["median_ms"])

            def fmt(val, spec):
                return spec % val if val is not None else "-"

            print("| %s | %s | %s | %s | %s | %s | %s |" % (
                case["case"], names[r], fmt(run["median_ms"], "%.1f"), ratio, fmt(run["peak_rss_mb"], "%.0f"),
                fmt(run.get("max_dp_vs_ours_fp32"), "%.2e"), fmt(run.get("max_dp_vs_ours_bf16"), "%.2e")))
    print()
    print("ours / this: our median time at the same precision (bf16 rows: srmds bf16; others: srmds fp32) over "
          "this runtime's; below 1 means srmds is faster. Medians over repetitions of per-process medians.")


if __name__ == "__main__":
    sys.exit(main())
