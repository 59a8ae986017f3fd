#!/usr/bin/python3
"""ONNX export (issue 22 items 3-4, io/onnx_export.hpp): `srmds export` writes the fused network,
head 0 only, for every attention type; the files are checked and run three ways.

For each case (attention se, sge, cbam, psa, none; fixed and dynamic batch and size; probability
and logits outputs; align_corners true and false; a training-form file, fused by the export, and a
fused file written by the PyTorch twin):
  (a) onnx.checker.check_model(full_check=True) accepts the file (Debian's python3-onnx); opset 17,
      one input, one output named as asked, fixed or symbolic dimensions as asked, no deep-supervision
      head among the initializers, metadata_props holding the config, the preprocessing and the
      weight file's metadata;
  (b) a numpy evaluator of exactly the ops the export emits (below; float64) runs the graph on
      windowed phantom CT slices and agrees with `srmds segment --prob-out` (float32 NIfTI, model
      size, so no resizing) to 1e-4 in probability, and with the PyTorch twin's fused forward
      (python/srmds_torch.py, float64) to 1e-4 (probability or logits);
  (c) ONNX Runtime and OpenVINO (PyPI, in a virtual environment the test creates under the build
      folder, build/onnx-test-venv, with --system-site-packages; reused on later runs) run the file
      and agree with `srmds segment`'s probabilities and with the twin to 1e-4. A runtime pip cannot
      install is reported as not run; (a) and (b) still decide the result.
  (d) on two real slices of ../shared/data/covid-semiseg/ (8-bit JPEG, x = v / 255, cropped to
      multiples of 16; skipped with a message where absent) the dynamic exports, through the numpy
      evaluator and both runtimes, agree with srmds' own forward (tests/tools/interop_tool) to 1e-4.
Usage errors exit 2; a build without ONNX support must say so (then the test exits 77, skipped).
Needs SRMDS_CLI (srmds), SRMDS_TOOLS_DIR (interop_tool) and SRMDS_BINARY_DIR (the build folder, for
the venv).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
    import nibabel as nib
except ImportError as e:  # pragma: no cover - depends on the machine
    print("skipped: numpy/onnx/torch/nibabel not importable (%s); scripts/install-deps.sh installs them" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SRMDS_SOURCE_DIR", os.path.dirname(HERE))
BINARY_DIR = os.environ.get("SRMDS_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))
import srmds_torch as st  # noqa: E402

CLI = os.environ.get("SRMDS_CLI", os.path.join(BINARY_DIR, "apps", "srmds", "srmds"))
TOOL = os.path.join(os.environ.get("SRMDS_TOOLS_DIR", os.path.join(BINARY_DIR, "tests")), "interop_tool")
# Real slices (read in place, never copied; skipped with a message where absent), README's path.
REAL_DIR = os.path.join(os.path.dirname(SOURCE_DIR), "shared", "data", "covid-semiseg", "train", "images")
REAL_SLICES = ["04.jpg", "13.jpg"]
sys.path.insert(0, os.path.join(HERE, "support"))
from baseline_jpeg import decode_grey_jpeg  # noqa: E402
TOL = 1e-4
OPSET = 17
WINDOW = (-1250.0, 250.0)

# (name, config, export options, source form, the input's N and H x W (0: dynamic), the twin's input
# N and H x W where the input is dynamic). Every config's input_size is 64 x 64.
CASES = [
    ("se_fixed", {"base": 4, "attention": "se"}, [], "train", 1, (64, 64), None),
    ("se_dynamic_fused", {"base": 8, "attention": "se", "align_corners": False}, ["--dynamic"], "fused", 0, (0, 0),
     (2, 32, 48)),
    ("none_batch2_logits", {"base": 4, "attention": "none"}, ["--batch", "2", "--output", "logits"], "train", 2,
     (64, 64), None),
    ("sge_dynamic", {"base": 4, "attention": "sge"}, ["--batch", "dynamic", "--size", "dynamic"], "train", 0, (0, 0),
     (2, 48, 32)),
    ("sge_fixed_size", {"base": 8, "attention": "sge", "align_corners": False}, ["--size", "32x48"], "train", 1,
     (32, 48), None),
    ("cbam_dynamic", {"base": 4, "attention": "cbam"}, ["--dynamic"], "train", 0, (0, 0), (2, 32, 32)),
    ("cbam_fixed_hw", {"base": 4, "attention": "cbam", "se_reduction": 2}, ["--batch", "dynamic", "--size", "64,48"],
     "train", 0, (64, 48), (3, 64, 48)),
    ("psa_fixed", {"base": 4, "attention": "psa"}, ["--batch", "2"], "train", 2, (64, 64), None),
    ("psa_dynamic_logits", {"base": 4, "attention": "psa", "align_corners": False},
     ["--dynamic", "--output", "logits"], "fused", 0, (0, 0), (2, 48, 48)),
]

failures = []
rows = []


def run(cmd, expect=0):
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    if expect is not None and p.returncode != expect:
        raise RuntimeError("%s exited %d (expected %d): %s" % (" ".join(map(str, cmd)), p.returncode, expect,
                                                              p.stderr.strip()))
    return p


# ---- a numpy evaluator of the ops srmds export emits (float64) -----------------------------------
def attrs_of(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, pads):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (n, c, H, W, kh, kw)
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (n, H, W, o)
    y = np.moveaxis(y, 3, 1)
    if b is not None:
        y = y + b.reshape(1, o, 1, 1)
    return y


def resize_axis(x, axis, scale, mode):
    n_in = x.shape[axis]
    n_out = int(np.floor(n_in * scale))
    dst = np.arange(n_out, dtype=np.float64)
    if mode == "align_corners":
        src = dst * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(dst)
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        src = (dst + 0.5) / scale - 0.5
    else:
        raise ValueError("Resize: coordinate_transformation_mode %s not in the evaluator" % mode)
    src = np.clip(src, 0, n_in - 1)  # the ONNX reference pads with the edge value
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = src - i0
    shape = [1] * x.ndim
    shape[axis] = n_out
    f = f.reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - f) + np.take(x, i1, axis=axis) * f


def run_numpy(model, feed):
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type == onnx.TensorProto.FLOAT
           else numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update({k: v.astype(np.float64) for k, v in feed.items()})
    env[""] = None
    used = set()
    for node in model.graph.node:
        a = attrs_of(node)
        x = [env[i] for i in node.input]
        op = node.op_type
        used.add(op)
        if op == "Conv":
            k = a["kernel_shape"]
            if a.get("strides", [1, 1]) != [1, 1] or a.get("dilations", [1, 1]) != [1, 1] or a.get("group", 1) != 1:
                raise ValueError("Conv: attributes %s not in the evaluator" % a)
            assert list(x[1].shape[2:]) == list(k)
            y = conv(x[0], x[1], x[2] if len(x) > 2 else None, a.get("pads", [0, 0, 0, 0]))
        elif op == "Relu":
            y = np.maximum(x[0], 0)
        elif op == "Sigmoid":
            y = 1.0 / (1.0 + np.exp(-x[0]))
        elif op in ("Mul", "Add", "Sub", "Div"):
            y = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}[op](x[0], x[1])
        elif op == "Sqrt":
            y = np.sqrt(x[0])
        elif op == "Identity":
            y = x[0]
        elif op == "GlobalAveragePool":
            y = x[0].mean(axis=(2, 3), keepdims=True)
        elif op == "GlobalMaxPool":
            y = x[0].max(axis=(2, 3), keepdims=True)
        elif op == "MaxPool":
            assert a["kernel_shape"] == [2, 2] and a["strides"] == [2, 2] and not a.get("pads")
            n, c, h, w = x[0].shape
            y = x[0][:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        elif op == "Resize":
            assert a["mode"] == b"linear" and len(x) == 3 and x[1] is None
            y = x[0]
            for axis in range(y.ndim):
                if x[2][axis] != 1:
                    y = resize_axis(y, axis, float(x[2][axis]), a["coordinate_transformation_mode"].decode())
        elif op == "Concat":
            y = np.concatenate(x, axis=a["axis"])
        elif op in ("ReduceMean", "ReduceMax", "ReduceSum", "ReduceProd"):
            axes = a.get("axes")
            if op == "ReduceSum" and len(x) > 1:
                axes = list(x[1])
            axes = tuple(axes) if axes is not None else None
            fn = {"ReduceMean": np.mean, "ReduceMax": np.max, "ReduceSum": np.sum, "ReduceProd": np.prod}[op]
            y = fn(x[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif op == "Reshape":
            shape = [int(s) for s in x[1]]
            shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            y = x[0].reshape(shape)
        elif op == "Shape":
            y = np.array(x[0].shape[a.get("start", 0):a.get("end", None)], dtype=np.int64)
        elif op == "Cast":
            assert a["to"] == onnx.TensorProto.FLOAT
            y = np.asarray(x[0], dtype=np.float64)
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(x[0] - x[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "MatMul":
            y = np.matmul(x[0], x[1])
        elif op == "LayerNormalization":
            ax = a.get("axis", -1)
            axes = tuple(range(ax % x[0].ndim, x[0].ndim))
            mu = x[0].mean(axis=axes, keepdims=True)
            var = ((x[0] - mu) ** 2).mean(axis=axes, keepdims=True)
            y = (x[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * x[1] + x[2]
        else:
            raise ValueError("the numpy evaluator has no op %s" % op)
        env[node.output[0]] = y
    return [env[o.name] for o in model.graph.output], used


# ---- ONNX Runtime and OpenVINO in a venv of the build folder -------------------------------------------
RUNTIMES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}  # runtime -> PyPI package


def runtime_python():
    """(python of a venv under the build folder, [runtimes importable there]); each runtime is
    installed from PyPI on first use, and one that cannot be installed is reported as not run."""
    venv = os.path.join(BINARY_DIR, "onnx-test-venv")
    py = os.path.join(venv, "bin", "python")

    def importable(module):
        return os.path.exists(py) and subprocess.run([py, "-c", "import " + module], stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE).returncode == 0

    found = []
    for module, package in RUNTIMES.items():
        if not importable(module):
            try:
                if not os.path.exists(py):
                    run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv])
                numpy_pin = "numpy==" + np.__version__  # keep Debian's numpy (torch is built against it)
                p = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--timeout",
                                    "30", numpy_pin, package], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=900)
                if p.returncode != 0:
                    print("%s: not run (pip install failed: %s)" % (module, p.stderr.strip()[-300:]))
            except Exception as e:  # noqa: BLE001 - anything that stops the venv only skips part (c)
                print("%s: not run (%s)" % (module, e))
        if importable(module):
            found.append(module)
    return py, found


RUNTIME_SCRIPT = r"""
import sys, numpy as np
runtime, model, xin, out, shape = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], [int(v) for v in sys.argv[5].split(",")]
x = np.fromfile(xin, dtype=np.float32).reshape(shape)
if runtime == "onnxruntime":
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    y = s.run(None, {s.get_inputs()[0].name: x})[0]
    version = ort.__version__
else:
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})
    y = compiled({0: x})[compiled.output(0)]
    version = ov.__version__.split("-")[0]
np.ascontiguousarray(y, dtype=np.float32).tofile(out)
print(version)
"""


def run_runtime(py, runtime, model_path, x, tmp, tag):
    xin, out = os.path.join(tmp, tag + ".rt_in.f32"), os.path.join(tmp, tag + ".rt_out.f32")
    np.ascontiguousarray(x, dtype=np.float32).tofile(xin)
    p = run([py, "-c", RUNTIME_SCRIPT, runtime, model_path, xin, out, ",".join(map(str, x.shape))])
    return np.fromfile(out, dtype=np.float32).reshape(x.shape[0], 1, x.shape[2], x.shape[3]), p.stdout.strip()


# ---- the checks ---------------------------------------------------------------------------------------
def compare(case, what, ours, ref):
    dev = float(np.max(np.abs(np.asarray(ours, np.float64) - np.asarray(ref, np.float64))))
    rows.append((case, what, dev))
    if not dev <= TOL:
        failures.append("%s %s: max |difference| %.3e > %g" % (case, what, dev, TOL))
    return dev


def phantom_volume(tmp, size, slices):
    """A (size, size, slices) int16 NIfTI volume of phantom CT slices (HU), and its windowed slices."""
    run([CLI, "phantom", "--out", os.path.join(tmp, "ph"), "--count", slices, "--size", size, "--seed", 7])
    imgs = [nib.load(os.path.join(tmp, "ph", "phantom_%03d_image.nii.gz" % i)) for i in range(slices)]
    data = np.concatenate([np.asarray(im.dataobj, dtype=np.int16) for im in imgs], axis=2)
    path = os.path.join(tmp, "ct.nii.gz")
    out = nib.Nifti1Image(data, imgs[0].affine)
    out.header.set_zooms(imgs[0].header.get_zooms())
    nib.save(out, path)
    hu = np.asarray(nib.load(path).get_fdata(), dtype=np.float64)
    x = (np.clip(hu, *WINDOW) - WINDOW[0]) / (WINDOW[1] - WINDOW[0])
    return path, np.stack([x[:, :, k].T for k in range(slices)])[:, None].astype(np.float32)  # (S, 1, H, W)


def real_slices():
    """[(name, x (1, 1, H, W) float32)]: COVID-SemiSeg slices as srmds reads 8-bit JPEG (v / 255),
    cropped to multiples of 16 (the dynamic exports run them at their own size); [] where absent."""
    out = []
    for name in REAL_SLICES:
        path = os.path.join(REAL_DIR, name)
        if not os.path.exists(path):
            return []
        with open(path, "rb") as f:
            v = decode_grey_jpeg(f.read())
        h, w = v.shape[0] // 16 * 16, v.shape[1] // 16 * 16
        out.append((name, (v[:h, :w] / 255.0)[None, None].astype(np.float32)))
    return out


def srmds_forward(model, x, tmp, tag):
    """z_0 of srmds' own eval-mode forward (tests/tools/interop_tool, the network segment runs)."""
    n, _, h, w = x.shape
    xin, zout = os.path.join(tmp, tag + ".x.f32"), os.path.join(tmp, tag + ".z.f32")
    np.ascontiguousarray(x, dtype="<f4").tofile(xin)
    run([TOOL, "forward", "--model", model, "--input", xin, "--n", n, "--h", h, "--w", w, "--output", zout])
    return np.fromfile(zout, dtype="<f4").astype(np.float64).reshape(n, 1, h, w)


def check_structure(name, model, opts, cfg, source, source_form, batch, hw):
    onnx.checker.check_model(model, full_check=True)
    if [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] != [OPSET]:
        failures.append("%s: opset %s, expected %d" % (name, list(model.opset_import), OPSET))
    out_name = "logits" if "logits" in opts else "probability"
    g = model.graph
    if [i.name for i in g.input] != ["image"] or [o.name for o in g.output] != [out_name]:
        failures.append("%s: inputs %s outputs %s" % (name, [i.name for i in g.input], [o.name for o in g.output]))
    dims = [(d.dim_value, d.dim_param) for d in g.input[0].type.tensor_type.shape.dim]
    want = [(batch, "N" if batch == 0 else ""), (1, ""), (hw[0], "H" if hw[0] == 0 else ""),
            (hw[1], "W" if hw[1] == 0 else "")]
    if dims != want:
        failures.append("%s: input dims %s, expected %s" % (name, dims, want))
    inits = [t.name for t in g.initializer]
    if "head0.weight" not in inits or any(n.startswith(("head1", "head2", "head3")) for n in inits):
        failures.append("%s: heads among the initializers: %s" % (name, [n for n in inits if n.startswith("head")]))
    if any(".br." in n for n in inits):
        failures.append("%s: training-form branches in the export" % name)
    meta = {p.key: p.value for p in model.metadata_props}
    full = st.full_config(cfg)
    expect = {"srmds.attention": full["attention"], "srmds.output": out_name, "srmds.form": "fused",
              "srmds.align_corners": "true" if full["align_corners"] else "false", "srmds.opset": str(OPSET),
              "preprocessing.window": "[-1250, 250]", "input.name": "image", "output.name": out_name,
              "preprocessing.input_size": "%dx%d" % tuple(full["input_size"]), "weights.format": "srmds",
              "weights.form": source_form, "srmds.source_form": source_form, "srmds.source": source,
              "postprocessing.threshold": "0.5"}
    for k, v in expect.items():
        if meta.get(k) != v:
            failures.append("%s: metadata %s = %r, expected %r" % (name, k, meta.get(k), v))
    for key in ("srmds.config", "weights.config"):
        if key not in meta or st.full_config(json.loads(meta[key])) != full:
            failures.append("%s: metadata %s %r does not hold the config %r" % (name, key, meta.get(key), full))
    for key in ("srmds.version", "preprocessing.scale", "preprocessing.resize", "preprocessing.layout",
                "postprocessing.lesion_labels", "input.shape", "output.shape"):
        if not meta.get(key):
            failures.append("%s: metadata %s missing" % (name, key))


def main():
    if not os.access(CLI, os.X_OK):
        print("srmds CLI not found at %s" % CLI)
        return 1
    all_ops = set()
    with tempfile.TemporaryDirectory(prefix="srmds_onnx_") as tmp:
        # A build without ONNX support says so: skipped.
        st.SRMDSNet({"base": 4, "input_size": [64, 64]}, "train").randomize_(seed=1).save(os.path.join(tmp, "probe.safetensors"))
        p = run([CLI, "export", "--model", os.path.join(tmp, "probe.safetensors"), "--out", os.path.join(tmp, "probe.onnx")],
                expect=None)
        if p.returncode != 0 and "no ONNX support" in p.stderr:
            print("skipped: %s" % p.stderr.strip())
            return 77
        if p.returncode != 0:
            print("srmds export failed: %s" % p.stderr.strip())
            return 1
        rt_py, runtimes = runtime_python()
        ct, slices = phantom_volume(tmp, 64, 4)  # (4, 1, 64, 64) windowed
        real = real_slices() if os.access(TOOL, os.X_OK) else []
        if not real:
            print("real slices: not run (%s)" % ("no interop_tool at " + TOOL if not os.access(TOOL, os.X_OK)
                                                 else REAL_DIR + " absent"))

        for index, (name, cfg, opts, form, batch, hw, twin_input) in enumerate(CASES):
            cfg = dict(cfg, input_size=[64, 64])
            train = st.SRMDSNet(cfg, "train").randomize_(seed=20 + index)
            model = os.path.join(tmp, name + ".safetensors")
            (train.eval().fuse() if form == "fused" else train).save(model)
            out = os.path.join(tmp, name + ".onnx")
            run([CLI, "export", "--model", model, "--out", out] + opts)
            m = onnx.load(out)
            check_structure(name, m, opts, cfg, model, form, batch, hw)
            logits = "logits" in opts

            # (b1) against srmds segment --prob-out on the phantom slices (64 x 64: no resizing).
            prob = os.path.join(tmp, name + ".p.nii.gz")
            run([CLI, "segment", "--model", model, "--input", ct, "--output", os.path.join(tmp, name + ".m.nii.gz"),
                 "--prob-out", prob])
            pv = np.asarray(nib.load(prob).get_fdata(), dtype=np.float64)
            p_seg = np.stack([pv[:, :, k].T for k in range(pv.shape[2])])[:, None]
            if hw == (0, 0) or hw == (64, 64):
                step = batch if batch > 0 else len(slices)
                outs = []
                for s0 in range(0, len(slices), step):
                    (y,), used = run_numpy(m, {"image": slices[s0:s0 + step]})
                    all_ops |= used
                    outs.append(y)
                y = np.concatenate(outs)
                p_np = 1 / (1 + np.exp(-y)) if logits else y
                compare(name, "numpy vs segment (p)", p_np, p_seg)
                if float(p_seg.std()) < 1e-3:
                    failures.append("%s: segment's probabilities are nearly constant (std %.2e)" % (name, p_seg.std()))
                for rt in runtimes:
                    y_rt, _ = run_runtime(rt_py, rt, out, slices[:step], tmp, name + rt)
                    compare(name, "%s vs segment (p)" % rt, 1 / (1 + np.exp(-y_rt)) if logits else y_rt, p_seg[:step])

            # (b2) against the twin's fused forward (float64) on random inputs of the case's size.
            nb, h, w = (batch, hw[0], hw[1]) if twin_input is None else twin_input
            x = np.random.default_rng(index).random((nb, 1, h, w)).astype(np.float32)
            fused = train.eval().fuse().double().eval()
            with torch.no_grad():
                z = fused(torch.from_numpy(x.astype(np.float64))).numpy()
            ref = z if logits else 1 / (1 + np.exp(-z))
            (y,), used = run_numpy(m, {"image": x})
            all_ops |= used
            compare(name, "numpy vs twin (%s, %dx1x%dx%d)" % ("z" if logits else "p", nb, h, w), y, ref)
            for rt in runtimes:
                y_rt, version = run_runtime(rt_py, rt, out, x, tmp, name + rt + "_twin")
                compare(name, "%s %s vs twin" % (rt, version), y_rt, ref)

            # (b3) real CT slices at their own size (dynamic exports): against srmds' own forward.
            for slice_name, xr in (real if hw == (0, 0) else []):
                z = srmds_forward(model, xr, tmp, name + slice_name)
                ref = z if logits else 1 / (1 + np.exp(-z))
                tag = "%s %dx%d" % (slice_name, xr.shape[2], xr.shape[3])
                (y,), used = run_numpy(m, {"image": xr})
                compare(name, "numpy vs srmds (%s, %s)" % ("z" if logits else "p", tag), y, ref)
                for rt in runtimes:
                    y_rt, _ = run_runtime(rt_py, rt, out, xr, tmp, name + rt + slice_name)
                    compare(name, "%s vs srmds (%s)" % (rt, tag), y_rt, ref)

        # Usage errors exit 2; the output is not written.
        model = os.path.join(tmp, "probe.safetensors")
        bad = [["--output", "mask"], ["--dynamic", "--batch", "2"], ["--size", "30"], ["--batch", "0"]]
        for extra in bad:
            target = os.path.join(tmp, "bad.onnx")
            p = run([CLI, "export", "--model", model, "--out", target] + extra, expect=None)
            if p.returncode != 2 or not p.stderr.startswith("srmds: error:") or os.path.exists(target):
                failures.append("export %s: exit %d, stderr %r (expected exit 2, one error line, no file)"
                                % (extra, p.returncode, p.stderr.strip()))
        p = run([CLI, "export", "--model", model, "--out", model], expect=None)
        if p.returncode != 2:
            failures.append("export onto its own model: exit %d (expected 2)" % p.returncode)

    for case, what, dev in rows:
        print("%-22s %-44s max |diff| %.3e" % (case, what, dev))
    print("ops emitted: %s" % ", ".join(sorted(all_ops)))
    print("runtimes run: %s" % (", ".join(runtimes) or "none (pip could not install them)"))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok: %d comparisons within %g" % (len(rows), TOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
