#!/usr/bin/python3
"""Initialisation as PyTorch's defaults (SPEC §5), checked against PyTorch itself.

For several configs (inner/external BN, with/without SE and identity, both forms), srmds writes a
freshly initialised network (interop_tool write-init, several seeds) and PyTorch builds the twin
module (python/srmds_torch.py: plain nn.Conv2d / nn.BatchNorm2d, default init, several seeds).
Per parameter kind (branch conv weight per kernel shape, SE fc1/fc2 weight and bias, CBAM and PSA
conv weights and biases, head weight and bias, fused weight and bias) the values of all tensors of that kind are divided by the
PyTorch bound b = 1/sqrt(fan_in) of their tensor (fan_in of the weight, also for its bias) and
pooled, then:
  - every srmds value lies in [-b, b] and PyTorch's samples do too (the bound is PyTorch's),
  - the two pooled samples pass a two-sample Kolmogorov-Smirnov test (p > 1e-3),
  - mean and variance agree with U(-1, 1)'s (0 and 1/3) within 5 standard errors.
BatchNorm tensors must be exactly PyTorch's: weight 1, bias 0, running_mean 0, running_var 1; so
must SGE's weight 0 / bias 1 and PSA's LayerNorm weight 1 / bias 0.
Exit 77 (skipped) when torch/scipy cannot be imported. Needs SRMDS_TOOLS_DIR (interop_tool).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    from scipy import stats
except ImportError as e:  # pragma: no cover - depends on the machine
    print("skipped: torch/numpy/scipy not importable (%s)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SRMDS_SOURCE_DIR", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))
import srmds_torch as st  # noqa: E402

TOOL = os.path.join(os.environ.get("SRMDS_TOOLS_DIR", ""), "interop_tool")
SEEDS = [1, 2, 3]
CASES = [  # (config, form)
    ({"base": 4}, "train"),
    ({"base": 4, "bn": "external", "se_reduction": 2}, "train"),
    ({"base": 4, "attention": "none", "branches": ["3x3", "1x1", "id"]}, "train"),
    ({"base": 4}, "fused"),
    ({"base": 8, "attention": "sge"}, "train"),
    ({"base": 8, "attention": "cbam"}, "train"),
    ({"base": 8, "attention": "psa"}, "train"),
    ({"base": 4, "attention": "psa"}, "fused"),
]
BN_EXPECTED = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
# Attention tensors with fixed initial values (the task's choices, as the reference modules): SGE's
# weight 0 and bias 1, PSA's LayerNorm weight 1 and bias 0.
FIXED_EXPECTED = {"att.weight": 0.0, "att.bias": 1.0, "att.ch_ln.weight": 1.0, "att.ch_ln.bias": 0.0}

failures = []


def kind_of(name):
    """Parameter kind of a tensor name, or ("bn", field) for BatchNorm tensors."""
    m = re.match(r"^(enc|dec)\d\.b\d\.(.*)$", name)
    rest = m.group(2) if m else name
    if re.match(r"^head\d\.(weight|bias)$", name):
        return "head." + name.split(".")[1]
    if re.match(r"^br\.(3x3|1x3|3x1|1x1)\.conv\.weight$", rest):
        return "branch %s weight" % rest.split(".")[1]
    if re.match(r"^se\.fc[12]\.(weight|bias)$", rest):
        return rest
    if re.match(r"^fused\.(weight|bias)$", rest):
        return rest
    if rest in FIXED_EXPECTED:
        return ("fixed", rest)
    if re.match(r"^att\.(fc1|fc2|spatial|ch_wv|ch_wq|ch_wz|sp_wv|sp_wq)\.(weight|bias)$", rest):
        return rest  # CBAM and PSA convolutions: PyTorch's default like every conv
    if re.match(r"^(br\.(3x3|1x3|3x1|1x1)\.bn|br\.id|bn)\.(weight|bias|running_mean|running_var)$", rest):
        return ("bn", rest.split(".")[-1])
    return None


def bound_for(name, tensors):
    """PyTorch's bound 1/sqrt(fan_in): fan_in of the weight (for a bias, of its layer's weight)."""
    w = tensors[name[: -len("bias")] + "weight"] if name.endswith(".bias") else tensors[name]
    return 1.0 / np.sqrt(float(np.prod(w.shape[1:])))


def pooled(tensor_sets):
    """{kind: normalised values} over a list of {name: tensor} dicts; BN tensors checked exactly."""
    out = {}
    for tensors, origin in tensor_sets:
        for name, t in tensors.items():
            if name.endswith("num_batches_tracked"):
                continue
            k = kind_of(name)
            if k is None:
                failures.append("%s: no parameter kind for tensor %s" % (origin, name))
                continue
            v = t.detach().to(torch.float64).numpy().ravel()
            if isinstance(k, tuple):
                want = BN_EXPECTED[k[1]] if k[0] == "bn" else FIXED_EXPECTED[k[1]]
                if not np.all(v == want):
                    failures.append("%s: BN tensor %s is not all %g (min %g, max %g)" % (origin, name, want, v.min(), v.max()))
                continue
            b = bound_for(name, tensors)
            if np.abs(v).max() > b * (1 + 1e-6):
                failures.append("%s: %s exceeds the bound 1/sqrt(fan_in) = %.4g (max |v| %.4g)" % (origin, name, b, np.abs(v).max()))
            out.setdefault(k, []).append(v / b)
    return {k: np.concatenate(v) for k, v in out.items()}


def main():
    if not os.path.isfile(TOOL):
        print("FAIL: %s not found (set SRMDS_TOOLS_DIR to the tests/tools build folder)" % TOOL)
        return 1
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="srmds_init_") as tmp:
        for config, form in CASES:
            tag = "%s %s" % (json.dumps(config), form)
            ours, theirs = [], []
            for seed in SEEDS:
                path = os.path.join(tmp, "init_%d.safetensors" % seed)
                proc = subprocess.run([TOOL, "write-init", "--config", json.dumps(config), "--form", form,
                                       "--seed", str(seed), "--out", path],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
                if proc.returncode != 0:
                    failures.append("%s: interop_tool write-init failed: %s" % (tag, proc.stderr.strip()))
                    continue
                tensors, _ = st.read_safetensors(path)
                ours.append((tensors, "srmds " + tag))
                torch.manual_seed(seed)
                net = st.SRMDSNet(config, form)
                theirs.append(({k: v for k, v in net.state_dict().items() if k in tensors}, "torch " + tag))
                names_t = set(k for k in net.state_dict() if not k.endswith("num_batches_tracked"))
                if names_t != set(tensors):
                    failures.append("%s: tensor names differ from the twin's: %s" % (tag, sorted(names_t ^ set(tensors))))
            a, b = pooled(ours), pooled(theirs)
            if set(a) != set(b):
                failures.append("%s: parameter kinds differ: %s vs %s" % (tag, sorted(a), sorted(b)))
            for k in sorted(set(a) & set(b)):
                x, y = a[k], b[k]
                p = stats.ks_2samp(x, y).pvalue if min(len(x), len(y)) > 1 else 1.0
                se_mean = np.sqrt(1.0 / 3.0 / len(x))  # U(-1, 1): variance 1/3, 4th central moment 1/5
                se_var = np.sqrt((1.0 / 5.0 - 1.0 / 9.0) / len(x))
                ok_mean = abs(x.mean()) <= 5 * se_mean
                ok_var = abs(x.var() - 1.0 / 3.0) <= 5 * se_var
                # PyTorch's own samples must be U(-1, 1) after the normalisation (the bound is PyTorch's).
                p_torch = stats.kstest(y, stats.uniform(loc=-1, scale=2).cdf).pvalue if len(y) > 1 else 1.0
                rows.append((tag, k, len(x), x.mean(), x.var(), p, p_torch))
                if not p > 1e-3:
                    failures.append("%s %s: srmds vs torch KS p = %.2e (n %d vs %d)" % (tag, k, p, len(x), len(y)))
                if len(x) >= 30 and not (ok_mean and ok_var):
                    failures.append("%s %s: mean %.4f var %.4f, expected 0 and 0.3333 (U(-1, 1))" % (tag, k, x.mean(), x.var()))
                if not p_torch > 1e-3:
                    failures.append("%s %s: torch's samples are not U(-b, b), KS p = %.2e" % (tag, k, p_torch))
    print("%-62s %-18s %7s %8s %7s %9s %9s" % ("config form", "kind", "n", "mean/b", "var/b2", "KS p", "torch~U p"))
    for tag, k, n, mean, var, p, pt in rows:
        print("%-62s %-18s %7d %8.4f %7.4f %9.2e %9.2e" % (tag, k, n, mean, var, p, pt))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
