#!/usr/bin/python3
"""PyTorch interop (SPEC §6): weight files travel between srmds and PyTorch in both directions.

For several configs (base 3/4/8, 64x48 and 32x32 inputs, N = 2; every attention type se, sge, cbam,
psa and none, so each is checked in both directions and both forms):
  (a) srmds random training-form file -> SRMDSNet.load_state_dict(strict=True) -> eval outputs agree
  (b) the same for fused files written by srmds (its own fusion, and a random fused net)
  (c) PyTorch-written files (random weights and BN statistics) -> srmds forward agrees, also a fused
      file that keeps head1..head3 (accepted and unused, SPEC §6)
  (d) PyTorch's float64 fusion of the srmds training file equals srmds' fused tensors and outputs
  (e) a file with a misnamed tensor is rejected by srmds with an error naming the tensor
  (f) the twin's attention types (srmds_torch.ATTENTIONS) are the C++ table's, in its order
      (`srmds info --list-attention`, blocks/attention_traits.hpp), CASES covers each, and per type
      the twin's parameter count in both forms equals `srmds info`'s (model_stats)
Outputs are compared as max|ours - torch| / max|torch| < 1e-5, where torch runs in float64, so the
figure is the error of our float32 forward. Exit 77 (skipped) when torch cannot be imported.
Needs SRMDS_TOOLS_DIR (the build folder of tests/tools, holding interop_tool) and SRMDS_CLI (srmds).
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
except ImportError as e:  # pragma: no cover - depends on the machine
    print("skipped: torch/numpy not importable (%s)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SRMDS_SOURCE_DIR", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))
import srmds_torch as st  # noqa: E402

TOOLS_DIR = os.environ.get("SRMDS_TOOLS_DIR", "")
TOOL = os.path.join(TOOLS_DIR, "interop_tool")
CLI = os.environ.get("SRMDS_CLI", os.path.join(SOURCE_DIR, "build", "apps", "srmds", "srmds"))
TOL = 1e-5

CASES = [  # (name, config, N, H, W)
    ("default", {"base": 4}, 2, 64, 48),
    ("base8", {"base": 8}, 2, 32, 32),
    ("bn_external", {"base": 4, "bn": "external"}, 2, 64, 48),
    ("attention_none", {"base": 4, "attention": "none"}, 2, 64, 48),
    ("branches_3x3_1x1", {"base": 4, "branches": ["3x3", "1x1"]}, 2, 64, 48),
    ("branches_1x3_3x1_id_ext", {"base": 4, "branches": ["1x3", "3x1", "id"], "bn": "external"}, 2, 32, 32),
    ("align_corners_false", {"base": 4, "align_corners": False, "se_reduction": 2}, 2, 64, 48),
    ("attention_sge", {"base": 4, "attention": "sge"}, 2, 64, 48),
    ("attention_cbam", {"base": 4, "attention": "cbam"}, 2, 64, 48),
    ("attention_psa", {"base": 4, "attention": "psa"}, 2, 64, 48),
    ("attention_sge_base8_ext", {"base": 8, "attention": "sge", "bn": "external"}, 2, 32, 32),
    ("attention_cbam_r2_ext", {"base": 4, "attention": "cbam", "se_reduction": 2, "bn": "external"}, 2, 32, 32),
    ("attention_psa_base3", {"base": 3, "attention": "psa", "branches": ["3x3", "1x1", "id"]}, 2, 32, 32),
]

failures = []
rows = []


def tool(*args, expect_ok=True):
    proc = subprocess.run([TOOL] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    if expect_ok and proc.returncode != 0:
        raise RuntimeError("interop_tool %s failed (%d): %s" % (args[0], proc.returncode, proc.stderr.strip()))
    return proc


def ours_forward(model, x, tmp, tag):
    n, _, h, w = x.shape
    xin, zout = os.path.join(tmp, tag + ".x.f32"), os.path.join(tmp, tag + ".z.f32")
    x.numpy().astype("<f4").tofile(xin)
    tool("forward", "--model", model, "--input", xin, "--n", n, "--h", h, "--w", w, "--output", zout)
    z = np.fromfile(zout, dtype="<f4")
    if z.size != n * h * w:
        raise RuntimeError("interop_tool forward wrote %d values, expected %d" % (z.size, n * h * w))
    return torch.from_numpy(z.astype(np.float64).reshape(n, 1, h, w))


def torch_forward64(net, x):
    net = net.double().eval()
    with torch.no_grad():
        return net(x.double())


def load_strict(path):
    """A PyTorch module built from the file's metadata, weights via load_state_dict(strict=True)."""
    tensors, meta = st.read_safetensors(path)
    st.check_metadata(meta, path)
    net = st.SRMDSNet(json.loads(meta["config"]), meta["form"])
    for name, t in tensors.items():
        if not name.endswith("num_batches_tracked") and t.dtype != torch.float32:
            failures.append("%s: tensor %s is %s, expected F32" % (path, name, t.dtype))
    net.load_state_dict(tensors, strict=True)  # a missing or extra name raises here
    return net, tensors, meta


def check(case, what, ours, ref):
    ref_max = float(ref.abs().max())
    dev = float((ours - ref).abs().max()) / ref_max if ref_max > 0 else float("inf")
    spread = float(ref.std()) / ref_max if ref_max > 0 else 0.0
    rows.append((case, what, dev))
    if not dev < TOL:
        failures.append("%s %s: max rel deviation %.3e >= %g" % (case, what, dev, TOL))
    if not spread > 1e-3:  # a constant output would make the comparison meaningless
        failures.append("%s %s: reference output is nearly constant (std/max %.2e)" % (case, what, spread))
    return dev


def run_case(index, name, config, n, h, w, tmp):
    cfg_json = json.dumps(config)
    gen = torch.Generator().manual_seed(100 + index)
    x = torch.rand(n, config.get("in_channels", 1), h, w, generator=gen)

    # (a) training form written by srmds
    train_file = os.path.join(tmp, name + ".train.safetensors")
    tool("write-random", "--config", cfg_json, "--form", "train", "--seed", 10 + index, "--out", train_file)
    net, tensors, meta = load_strict(train_file)
    if meta["form"] != "train" or net.config != st.full_config(config):
        failures.append("%s: file metadata %r does not match the config %r" % (name, meta, config))
    check(name, "a train ours->torch", ours_forward(train_file, x, tmp, name + ".a"), torch_forward64(net, x))

    # (b) fused files written by srmds: its fusion of the training file, and a random fused net
    fused_file = os.path.join(tmp, name + ".fused.safetensors")
    tool("fuse", "--model", train_file, "--out", fused_file)
    fnet, ftensors, fmeta = load_strict(fused_file)
    if fmeta["form"] != "fused":
        failures.append("%s: fused file has form %r" % (name, fmeta["form"]))
    z_ours_fused = ours_forward(fused_file, x, tmp, name + ".b")
    check(name, "b fused(ours) ours->torch", z_ours_fused, torch_forward64(fnet, x))
    rand_fused = os.path.join(tmp, name + ".rfused.safetensors")
    tool("write-random", "--config", cfg_json, "--form", "fused", "--seed", 20 + index, "--out", rand_fused)
    rnet, _, _ = load_strict(rand_fused)
    check(name, "b fused(random) ours->torch", ours_forward(rand_fused, x, tmp, name + ".b2"),
          torch_forward64(rnet, x))

    # (c) PyTorch-written files read by srmds (training and fused form)
    tnet = st.SRMDSNet(config).randomize_(seed=30 + index)
    torch_file = os.path.join(tmp, name + ".torch.safetensors")
    tnet.save(torch_file, keep_num_batches_tracked=(index % 2 == 0))  # I64 entries must be ignored
    check(name, "c train torch->ours", ours_forward(torch_file, x, tmp, name + ".c"), torch_forward64(tnet, x))
    torch_fused_file = os.path.join(tmp, name + ".torchfused.safetensors")
    tnet.fuse().save(torch_fused_file)
    check(name, "c fused torch->ours", ours_forward(torch_fused_file, x, tmp, name + ".c2"),
          torch_forward64(tnet, x))
    # a fused module that keeps all four heads (PyTorch's state_dict() of a module fused in place):
    # srmds accepts head1..head3 and does not use them; the twin loads such a file too
    torch_fused4_file = os.path.join(tmp, name + ".torchfused4.safetensors")
    tnet.fuse(all_heads=True).save(torch_fused4_file)
    heads4 = set(st.read_safetensors(torch_fused4_file)[0])
    if not all("head%d.%s" % (s, k) in heads4 for s in range(4) for k in ("weight", "bias")):
        failures.append("%s: the four-head fused file lacks a head: %s" % (name, sorted(heads4)))
    check(name, "c fused 4 heads torch->ours", ours_forward(torch_fused4_file, x, tmp, name + ".c3"),
          torch_forward64(tnet, x))
    check(name, "c fused 4 heads torch->torch", torch_forward64(st.SRMDSNet.from_file(torch_fused4_file), x),
          torch_forward64(tnet, x))

    # (d) PyTorch's float64 fusion of our training file vs our fused file
    ref = net.float().fused_state_dict()
    if set(ref) != set(k for k in ftensors if not k.endswith("num_batches_tracked")):
        failures.append("%s: fused tensor names differ: %s" % (name, sorted(set(ref) ^ set(ftensors))))
    worst = 0.0
    for key, value in ref.items():
        if key in ftensors:
            scale = max(float(value.abs().max()), 1e-30)
            worst = max(worst, float((ftensors[key].double() - value).abs().max()) / scale)
    rows.append((name, "d fused tensors ours vs torch", worst))
    if not worst < 1e-6:  # both round the same float64 result to float32
        failures.append("%s: fused tensors differ from PyTorch's fusion by %.3e" % (name, worst))
    torch_fused = st.SRMDSNet(config, "fused").double()
    torch_fused.load_state_dict(ref, strict=True)
    check(name, "d fused(torch) vs fused(ours)", z_ours_fused, torch_forward64(torch_fused, x))


def check_rejects_misnamed(tmp):
    net = st.SRMDSNet({"base": 4}).randomize_(seed=7)
    tensors = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors["enc1.b0.br.3x3.conv.wieght"] = tensors.pop("enc1.b0.br.3x3.conv.weight")
    bad = os.path.join(tmp, "misnamed.safetensors")
    st.write_safetensors(bad, tensors, net.metadata())
    x = np.zeros(2 * 32 * 32, dtype="<f4")
    xin = os.path.join(tmp, "zeros.f32")
    x.tofile(xin)
    proc = tool("forward", "--model", bad, "--input", xin, "--n", 2, "--h", 32, "--w", 32,
                "--output", os.path.join(tmp, "bad.z.f32"), expect_ok=False)
    if proc.returncode == 0 or "enc1.b0.br.3x3.conv" not in proc.stderr:
        failures.append("misnamed tensor: srmds accepted it or did not name it (rc %d, %r)"
                        % (proc.returncode, proc.stderr.strip()))
    message = proc.stderr.strip()
    rows.append(("misnamed", "rejected: ..." + message[message.rfind("': ") + 1:][:60], 0.0))


def check_rejects_bad_unused_head(tmp):
    """head1..head3 in a fused file are shape-checked although they are not used."""
    fused = st.SRMDSNet({"base": 4}).randomize_(seed=8).fuse(all_heads=True)
    tensors = {k: v for k, v in fused.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors["head2.weight"] = torch.zeros(1, 5, 1, 1)
    bad = os.path.join(tmp, "badhead.safetensors")
    st.write_safetensors(bad, tensors, fused.metadata())
    xin = os.path.join(tmp, "zeros2.f32")
    np.zeros(2 * 32 * 32, dtype="<f4").tofile(xin)
    proc = tool("forward", "--model", bad, "--input", xin, "--n", 2, "--h", 32, "--w", 32,
                "--output", os.path.join(tmp, "badhead.z.f32"), expect_ok=False)
    if proc.returncode == 0 or "head2.weight" not in proc.stderr:
        failures.append("bad head2 shape: srmds accepted it or did not name it (rc %d, %r)"
                        % (proc.returncode, proc.stderr.strip()))
    message = proc.stderr.strip()
    rows.append(("bad unused head", "rejected: ..." + message[message.rfind("': ") + 1:][:60], 0.0))


def srmds_cli(*args):
    proc = subprocess.run([CLI] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("srmds %s failed (%d): %s" % (" ".join(map(str, args)), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def check_attention_types():
    """(f): the twin's list of attention types against the C++ table, and their parameter counts."""
    names = srmds_cli("info", "--list-attention").split()
    if tuple(names) != tuple(st.ATTENTIONS):
        failures.append("attention types: srmds knows %s, the twin %s" % (names, list(st.ATTENTIONS)))
    covered = set(config.get("attention", st.DEFAULT_CONFIG["attention"]) for _, config, _, _, _ in CASES)
    if set(names) - covered:
        failures.append("attention types without an interop case: %s" % sorted(set(names) - covered))
    for name in names:
        out = srmds_cli("info", "--base", 8, "--attention", name, "--size", 64)
        for form, label in (("train", "training form"), ("fused", "fused form")):
            m = re.search(r"^%s: +([0-9,]+) parameters" % label, out, re.M)
            ours = int(m.group(1).replace(",", "")) if m else None
            twin = sum(p.numel() for p in st.SRMDSNet({"base": 8, "attention": name}, form).parameters())
            print("attention %-5s %-5s form: srmds info %s parameters, twin %d" % (name, form, ours, twin))
            if ours != twin:
                failures.append("attention %s, %s form: srmds info counts %s parameters, the twin has %d"
                                % (name, form, ours, twin))


def main():
    if not os.path.isfile(TOOL):
        print("FAIL: %s not found (set SRMDS_TOOLS_DIR to the tests/tools build folder)" % TOOL)
        return 1
    torch.set_num_threads(1)  # tiny tensors; threads only add contention on a busy CI box
    with tempfile.TemporaryDirectory(prefix="srmds_interop_") as tmp:
        for index, (name, config, n, h, w) in enumerate(CASES):
            try:
                run_case(index, name, config, n, h, w, tmp)
            except Exception as e:  # report and go on with the other cases
                failures.append("%s: %s: %s" % (name, type(e).__name__, e))
        try:
            check_rejects_misnamed(tmp)
        except Exception as e:
            failures.append("misnamed: %s: %s" % (type(e).__name__, e))
        try:
            check_rejects_bad_unused_head(tmp)
        except Exception as e:
            failures.append("bad unused head: %s: %s" % (type(e).__name__, e))
    try:
        check_attention_types()
    except Exception as e:
        failures.append("attention types: %s: %s" % (type(e).__name__, e))
    for case, what, dev in rows:
        print("%-26s %-32s %.2e" % (case, what, dev))
    devs = [d for _, w, d in rows if not w.startswith("rejected")]
    if devs:
        print("worst max|ours - torch| / max|torch| = %.2e over %d comparisons (limit %g)" % (max(devs), len(devs), TOL))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
