"""PyTorch twin of SR&MDS-Net with exactly the srmds weight names (SPEC §6).

    net = SRMDSNet({"base": 8})              # training form (multi-branch SRFV blocks)
    net.save("w.safetensors")                # srmds weight file, loadable by the C++ library
    net = SRMDSNet.from_file("w.safetensors")  # either form, as the file says
    fused = net.fuse()                       # one 3x3 conv per block, fusion in float64 (SPEC §2)

SRFV block, training form:  y = ReLU(SE(sum_k BN_k(Conv_k(x)) [+ BN_id(x) if cin == cout]))
  "bn": "external":          y = ReLU(SE(BN(sum_k Conv_k(x) [+ x if cin == cout])))
Fused form:                  y = ReLU(SE(Conv3x3(x; K, B)))
  with t = gamma / sqrt(var + eps), K = sum_k t_k pad3x3(W_k), B = sum_k (beta_k - mean_k t_k).
SE: a = sigmoid(fc2(ReLU(fc1(mean_hw y)))), output y * a, hidden width max(cout // r, 4).
"attention" (SPEC §2) picks SE (weights under <block>.se.), SGE, CBAM or PSA (under <block>.att.)
or none; each sits after the branch sum, before the ReLU, in both forms.

forward(x) returns [z0, z1, z2, z3] for the training form in training mode, else z0.
Weight files are safetensors (8-byte LE header length, JSON header, F32 data); the minimal reader
and writer here need only the standard library, numpy and torch.
"""
import argparse
import copy
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "base": 64,
    "in_channels": 1,
    "branches": ["3x3", "1x3", "3x1", "1x1", "id"],
    "bn": "inner",
    "attention": "se",
    "se_reduction": 16,
    "align_corners": True,
    "input_size": [512, 512],
    "window": [-1250, 250],
    "lesion_labels": [1, 2],
}
CONV_BRANCHES = {"3x3": (3, 3), "1x3": (1, 3), "3x1": (3, 1), "1x1": (1, 1)}
ATTENTIONS = ("se", "sge", "cbam", "psa", "none")
BN_EPS = 1e-5
STAGES = ["enc0", "enc1", "enc2", "enc3", "enc4", "dec3", "dec2", "dec1", "dec0"]


def full_config(config=None):
    """The config with defaults filled in; unknown keys and bad values raise ValueError."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (config or {}).items():
        if key not in DEFAULT_CONFIG:
            raise ValueError("srmds config: unknown key '%s'" % key)
        cfg[key] = copy.deepcopy(value)
    if any(b not in list(CONV_BRANCHES) + ["id"] for b in cfg["branches"]):
        raise ValueError("srmds config: bad branches %r" % (cfg["branches"],))
    if not any(b in CONV_BRANCHES for b in cfg["branches"]):
        raise ValueError("srmds config: branches need at least one convolution")
    if cfg["bn"] not in ("inner", "external"):
        raise ValueError("srmds config: bad bn %r" % (cfg["bn"],))
    if cfg["attention"] not in ATTENTIONS:
        raise ValueError("srmds config: bad attention %r (expected one of %s)"
                         % (cfg["attention"], ", ".join(ATTENTIONS)))
    if int(cfg["base"]) < 1 or int(cfg["in_channels"]) < 1 or int(cfg["se_reduction"]) < 1:
        raise ValueError("srmds config: base, in_channels and se_reduction must be positive")
    for block, cout in block_channels(cfg):
        if cfg["attention"] == "sge" and cout % sge_groups(cout):
            raise ValueError("srmds config: attention sge needs the channels of every block to be a multiple of "
                             "its min(8, C) groups; block %s has %d" % (block, cout))
        if cfg["attention"] == "psa" and cout < 2:
            raise ValueError("srmds config: attention psa needs at least 2 channels per block; block %s has %d"
                             % (block, cout))
    return cfg


def block_channels(cfg):
    """(block name, output channels) for the 18 SRFV blocks."""
    for name, cin, cout, cmid in stage_channels(cfg):
        yield name + ".b0", cmid
        yield name + ".b1", cout


def stage_channels(cfg):
    """(name, cin, cout, cmid) for the nine stages (SPEC §1)."""
    c = [cfg["base"] * m for m in (1, 2, 4, 8, 8)]
    return [
        ("enc0", cfg["in_channels"], c[0], c[0]),
        ("enc1", c[0], c[1], c[1]),
        ("enc2", c[1], c[2], c[2]),
        ("enc3", c[2], c[3], c[3]),
        ("enc4", c[3], c[4], c[4]),
        ("dec3", c[4] + c[3], c[2], (c[4] + c[3]) // 2),
        ("dec2", 2 * c[2], c[1], c[2]),
        ("dec1", 2 * c[1], c[0], c[1]),
        ("dec0", 2 * c[0], c[0], c[0]),
    ]


class Branch(nn.Module):
    """One convolution branch: conv (no bias) and, for "bn": "inner", its BatchNorm."""

    def __init__(self, cin, cout, kernel, with_bn):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=(kernel[0] // 2, kernel[1] // 2), bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.1) if with_bn else None

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) if self.bn is not None else y


class SE(nn.Module):
    """Squeeze-and-excitation: y * sigmoid(fc2(ReLU(fc1(mean_hw y))))."""

    def __init__(self, cout, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(cout, hidden, 1, bias=True)
        self.fc2 = nn.Conv2d(hidden, cout, 1, bias=True)

    def forward(self, y):
        s = y.mean(dim=(2, 3), keepdim=True)
        return y * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def sge_groups(channels):
    return min(8, channels)


class SGE(nn.Module):
    """Spatial group-wise enhance (Li et al. 2019), G = min(8, C) groups: per group
    e = sum_c y_c mean_hw(y_c), normalised over H, W (unbiased std + 1e-5), t = e * weight + bias,
    output y_c * sigmoid(t)."""

    def __init__(self, channels):
        super().__init__()
        self.groups = sge_groups(channels)
        if channels % self.groups:
            raise ValueError("SGE: %d channels are not a multiple of %d groups" % (channels, self.groups))
        self.weight = nn.Parameter(torch.zeros(1, self.groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, self.groups, 1, 1))

    def forward(self, y):
        b, c, h, w = y.shape
        g = self.groups
        x = y.reshape(b * g, c // g, h, w)
        e = (x * x.mean(dim=(2, 3), keepdim=True)).sum(dim=1).reshape(b * g, h * w)
        e = e - e.mean(dim=1, keepdim=True)
        e = e / (e.std(dim=1, keepdim=True) + 1e-5)
        t = e.reshape(b, g, h, w) * self.weight + self.bias
        return (x * torch.sigmoid(t.reshape(b * g, 1, h, w))).reshape(b, c, h, w)


class CBAM(nn.Module):
    """CBAM (Woo et al. 2018): channel gate sigmoid(fc2(ReLU(fc1(avg))) + fc2(ReLU(fc1(max)))) with
    bias-free 1x1 convs, then spatial gate sigmoid(conv7x7([mean_c, max_c])) with bias, padding 3."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=True)

    def forward(self, y):
        avg = y.mean(dim=(2, 3), keepdim=True)
        mx = y.amax(dim=(2, 3), keepdim=True)
        y = y * torch.sigmoid(self.fc2(F.relu(self.fc1(avg))) + self.fc2(F.relu(self.fc1(mx))))
        pooled = torch.cat([y.mean(dim=1, keepdim=True), y.amax(dim=1, keepdim=True)], dim=1)
        return y * torch.sigmoid(self.spatial(pooled))


class PSA(nn.Module):
    """Polarized self-attention, parallel form (Liu et al. 2021), Ch = C // 2, 1x1 convs with bias:
    channel gate a = sigmoid(ch_ln(ch_wz(sum_hw ch_wv(y) softmax_hw(ch_wq(y))))) (LayerNorm over C),
    spatial gate m = sigmoid(sum_c softmax_c(mean_hw sp_wq(y)) sp_wv(y)); output y * a + y * m."""

    def __init__(self, channels):
        super().__init__()
        if channels < 2:
            raise ValueError("PSA: needs at least 2 channels, got %d" % channels)
        half = channels // 2
        self.ch_wv = nn.Conv2d(channels, half, 1)
        self.ch_wq = nn.Conv2d(channels, 1, 1)
        self.ch_wz = nn.Conv2d(half, channels, 1)
        self.ch_ln = nn.LayerNorm(channels, eps=1e-5)
        self.sp_wv = nn.Conv2d(channels, half, 1)
        self.sp_wq = nn.Conv2d(channels, half, 1)

    def forward(self, y):
        b, c, h, w = y.shape
        v = self.ch_wv(y).reshape(b, -1, h * w)
        q = torch.softmax(self.ch_wq(y).reshape(b, 1, h * w), dim=-1)
        z = (v * q).sum(dim=-1).reshape(b, -1, 1, 1)
        a = torch.sigmoid(self.ch_ln(self.ch_wz(z).reshape(b, c))).reshape(b, c, 1, 1)
        vs = self.sp_wv(y).reshape(b, -1, h * w)
        qs = torch.softmax(self.sp_wq(y).mean(dim=(2, 3)), dim=1)
        m = torch.sigmoid((qs.unsqueeze(-1) * vs).sum(dim=1)).reshape(b, 1, h, w)
        return y * a + y * m


def make_attention(cfg, channels):
    """(attribute name, module or None) of a block's attention (SPEC §2)."""
    kind = cfg["attention"]
    hidden = max(channels // cfg["se_reduction"], 4)
    if kind == "se":
        return "se", SE(channels, hidden)
    if kind == "sge":
        return "att", SGE(channels)
    if kind == "cbam":
        return "att", CBAM(channels, hidden)
    if kind == "psa":
        return "att", PSA(channels)
    return None, None


class SRFVBlock(nn.Module):
    def __init__(self, cin, cout, cfg, form):
        super().__init__()
        self.cin, self.cout, self.form = cin, cout, form
        self.external = cfg["bn"] == "external"
        self.use_id = "id" in cfg["branches"] and cin == cout
        if form == "train":
            self.br = nn.ModuleDict()
            for name in cfg["branches"]:
                if name in CONV_BRANCHES:
                    self.br[name] = Branch(cin, cout, CONV_BRANCHES[name], not self.external)
            if self.use_id and not self.external:
                self.br["id"] = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.1)
            if self.external:
                self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.1)
        elif form == "fused":
            self.fused = nn.Conv2d(cin, cout, 3, padding=1, bias=True)
        else:
            raise ValueError("srmds: form must be 'train' or 'fused', got %r" % (form,))
        self.se = None
        self.att = None
        attr, module = make_attention(cfg, cout)
        if attr is not None:
            setattr(self, attr, module)

    def forward(self, x):
        if self.form == "fused":
            y = self.fused(x)
        else:
            y = None
            for name, module in self.br.items():
                out = module(x)
                y = out if y is None else y + out
            if self.external:
                if self.use_id:
                    y = y + x
                y = self.bn(y)
        attention = self.attention_module()
        if attention is not None:
            y = attention(y)
        return F.relu(y)

    def attention_module(self):
        """The block's attention (SE under "se", SGE / CBAM / PSA under "att") or None."""
        return self.se if self.se is not None else self.att

    def attention_prefix(self):
        return "se" if self.se is not None else "att"

    def fused_tensors(self):
        """(K, B) of the equivalent 3x3 convolution, computed in float64 (SPEC §2)."""
        assert self.form == "train"
        dd = dict(dtype=torch.float64, device="cpu")
        K = torch.zeros(self.cout, self.cin, 3, 3, **dd)
        B = torch.zeros(self.cout, **dd)

        def bn_scale_shift(bn):
            t = bn.weight.detach().to(**dd) / torch.sqrt(bn.running_var.detach().to(**dd) + bn.eps)
            return t, bn.bias.detach().to(**dd) - bn.running_mean.detach().to(**dd) * t

        def padded(w):  # (cout, cin, kh, kw) -> (cout, cin, 3, 3), kernel in the centre
            kh, kw = w.shape[2], w.shape[3]
            out = torch.zeros(w.shape[0], w.shape[1], 3, 3, **dd)
            out[:, :, 1 - kh // 2:2 + kh // 2, 1 - kw // 2:2 + kw // 2] = w.detach().to(**dd)
            return out

        identity = torch.zeros(self.cout, self.cin, 3, 3, **dd)
        if self.use_id:
            identity[torch.arange(self.cout), torch.arange(self.cout), 1, 1] = 1.0
        for name, module in self.br.items():
            if name == "id":
                t, shift = bn_scale_shift(module)
                K += t.view(-1, 1, 1, 1) * identity
                B += shift
            elif self.external:
                K += padded(module.conv.weight)
            else:
                t, shift = bn_scale_shift(module.bn)
                K += t.view(-1, 1, 1, 1) * padded(module.conv.weight)
                B += shift
        if self.external:
            if self.use_id:
                K += identity
            t, shift = bn_scale_shift(self.bn)
            K = t.view(-1, 1, 1, 1) * K
            B = shift.clone()
        return K, B


class Stage(nn.Module):
    def __init__(self, cin, cout, cmid, cfg, form):
        super().__init__()
        self.b0 = SRFVBlock(cin, cmid, cfg, form)
        self.b1 = SRFVBlock(cmid, cout, cfg, form)

    def forward(self, x):
        return self.b1(self.b0(x))


class SRMDSNet(nn.Module):
    """SR&MDS-Net with srmds weight names. form: "train" (multi-branch, four heads) or "fused"
    (one 3x3 conv per block; head0 only, or all four heads with heads=4, as a PyTorch module fused
    in place keeps them: its state_dict() then holds head1..head3, which srmds accepts and does not
    use, SPEC §6)."""

    def __init__(self, config=None, form="train", heads=None):
        super().__init__()
        if form not in ("train", "fused"):
            raise ValueError("srmds: form must be 'train' or 'fused', got %r" % (form,))
        if heads is None:
            heads = 4 if form == "train" else 1
        if heads not in ((4,) if form == "train" else (1, 4)):
            raise ValueError("srmds: a %s-form net has %s heads, got %r" % (form, "4" if form == "train" else "1 or 4", heads))
        self.config = full_config(config)
        self.form = form
        self.heads = heads
        for name, cin, cout, cmid in stage_channels(self.config):
            self.add_module(name, Stage(cin, cout, cmid, self.config, form))
        c = [self.config["base"] * m for m in (1, 2, 4, 8, 8)]
        head_channels = [c[0], c[0], c[1], c[2]]  # d0, d1, d2, d3
        for s in range(heads):
            self.add_module("head%d" % s, nn.Conv2d(head_channels[s], 1, 1, bias=True))

    def _up(self, x):
        return F.interpolate(x, size=(2 * x.shape[2], 2 * x.shape[3]), mode="bilinear",
                             align_corners=bool(self.config["align_corners"]))

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.config["in_channels"] or x.shape[2] % 16 or x.shape[3] % 16:
            raise ValueError("SRMDSNet: input must be (N, %d, H, W) with H, W multiples of 16, got %s"
                             % (self.config["in_channels"], tuple(x.shape)))
        e0 = self.enc0(x)
        e1 = self.enc1(F.max_pool2d(e0, 2))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        e4 = self.enc4(F.max_pool2d(e3, 2))
        d3 = self.dec3(torch.cat([e3, self._up(e4)], 1))
        d2 = self.dec2(torch.cat([e2, self._up(d3)], 1))
        d1 = self.dec1(torch.cat([e1, self._up(d2)], 1))
        d0 = self.dec0(torch.cat([e0, self._up(d1)], 1))
        z0 = self.head0(d0)
        if self.training and self.form == "train":
            return [z0, self.head1(d1), self.head2(d2), self.head3(d3)]
        return z0

    def blocks(self):
        """(prefix, block) for the 18 SRFV blocks, e.g. ("enc0.b0", block)."""
        for stage in STAGES:
            for b in ("b0", "b1"):
                yield "%s.%s" % (stage, b), getattr(getattr(self, stage), b)

    def randomize_(self, seed=0, se_gate_bias=1.5, psa_gate_bias=-1.5):
        """Random weights and BN statistics for tests, scaled so that activations stay O(1) through
        the 18 blocks (a badly scaled random net turns float32 rounding into 1e-4 relative noise):
          branch convs  N(0, 2 / (fan_in * terms)), terms = conv branches + identity of the block
          fused convs   N(0, 2 / fan_in), bias N(0, 0.1)
          BN            gamma U(0.5, 1.5), beta N(0, 0.1), running_mean N(0, 0.1), running_var U(0.5, 1.5)
          SE fc1, fc2   N(0, 1 / fan_in), fc1 bias N(0, 0.1), fc2 bias N(se_gate_bias, 0.1)
          SGE           weight N(0, 0.5), bias N(1, 0.1)
          CBAM          fc1, fc2, spatial weights N(0, 1 / fan_in), spatial bias N(se_gate_bias, 0.1)
          PSA           conv weights N(0, 1 / fan_in), conv biases N(0, 0.1), ch_ln weight U(0.5, 1.5),
                        ch_ln bias N(psa_gate_bias, 0.1) (a channel gate near 0.2: with y (a + m) near
                        y, activations would grow block after block and float32 with them)
          heads         N(0, 1 / fan_in), bias N(0, 0.01)
        tests/tools/interop_tool.cpp write-random uses the same distributions."""
        g = torch.Generator().manual_seed(seed)

        def normal_(t, mean, std):
            t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float64) * std + mean)

        def uniform_(t, lo, hi):
            t.copy_(torch.rand(t.shape, generator=g, dtype=torch.float64) * (hi - lo) + lo)

        def bn_(bn):
            uniform_(bn.weight, 0.5, 1.5)
            normal_(bn.bias, 0.0, 0.1)
            normal_(bn.running_mean, 0.0, 0.1)
            uniform_(bn.running_var, 0.5, 1.5)

        with torch.no_grad():
            for _, block in self.blocks():
                if block.form == "fused":
                    normal_(block.fused.weight, 0.0, (2.0 / block.fused.weight[0].numel()) ** 0.5)
                    normal_(block.fused.bias, 0.0, 0.1)
                else:
                    convs = [m for k, m in block.br.items() if k != "id"]
                    terms = len(convs) + (1 if block.use_id else 0)
                    for branch in convs:
                        normal_(branch.conv.weight, 0.0, (2.0 / (branch.conv.weight[0].numel() * terms)) ** 0.5)
                        if branch.bn is not None:
                            bn_(branch.bn)
                    if "id" in block.br:
                        bn_(block.br["id"])
                    if block.external:
                        bn_(block.bn)
                if block.se is not None:
                    for fc, bias_mean in ((block.se.fc1, 0.0), (block.se.fc2, se_gate_bias)):
                        normal_(fc.weight, 0.0, (1.0 / fc.weight[0].numel()) ** 0.5)
                        normal_(fc.bias, bias_mean, 0.1)
                att = block.att
                if isinstance(att, SGE):
                    normal_(att.weight, 0.0, 0.5)
                    normal_(att.bias, 1.0, 0.1)
                elif isinstance(att, CBAM):
                    for conv in (att.fc1, att.fc2, att.spatial):
                        normal_(conv.weight, 0.0, (1.0 / conv.weight[0].numel()) ** 0.5)
                    normal_(att.spatial.bias, se_gate_bias, 0.1)
                elif isinstance(att, PSA):
                    for conv in (att.ch_wv, att.ch_wq, att.ch_wz, att.sp_wv, att.sp_wq):
                        normal_(conv.weight, 0.0, (1.0 / conv.weight[0].numel()) ** 0.5)
                        normal_(conv.bias, 0.0, 0.1)
                    uniform_(att.ch_ln.weight, 0.5, 1.5)
                    normal_(att.ch_ln.bias, psa_gate_bias, 0.1)
            for s in range(4):
                head = getattr(self, "head%d" % s, None)
                if head is not None:
                    normal_(head.weight, 0.0, (1.0 / head.weight[0].numel()) ** 0.5)
                    normal_(head.bias, 0.0, 0.01)
        return self

    def fused_state_dict(self, all_heads=False):
        """State dict of the fused form, fusion computed in float64 (tensors returned as float64);
        head0 only, or all four heads with all_heads=True (what state_dict() of a PyTorch module
        fused in place holds)."""
        if self.form != "train":
            raise ValueError("fused_state_dict: the net is already fused")
        out = {}
        for prefix, block in self.blocks():
            K, B = block.fused_tensors()
            out[prefix + ".fused.weight"] = K
            out[prefix + ".fused.bias"] = B
            attention = block.attention_module()
            if attention is not None:  # kept as it is by fusion
                for key, value in attention.state_dict().items():
                    out["%s.%s.%s" % (prefix, block.attention_prefix(), key)] = value.detach().to(torch.float64).clone()
        for s in range(4 if all_heads else 1):
            for key, value in getattr(self, "head%d" % s).state_dict().items():
                out["head%d.%s" % (s, key)] = value.detach().to(torch.float64).clone()
        return out

    def fuse(self, all_heads=False):
        """A new fused-form SRMDSNet (float32, eval mode) equivalent to this one in eval mode; with
        all_heads=True it keeps head1..head3 (unused in inference) like an in-place fusion."""
        fused = SRMDSNet(self.config, "fused", heads=4 if all_heads else 1)
        fused.load_state_dict({k: v.float() for k, v in self.fused_state_dict(all_heads).items()}, strict=True)
        return fused.eval()

    def metadata(self):
        return {"format": "srmds", "form": self.form, "config": json.dumps(self.config)}

    def save(self, path, keep_num_batches_tracked=False):
        """Write an srmds weight file (F32; num_batches_tracked as I64 only if asked)."""
        tensors = {}
        for key, value in self.state_dict().items():
            if key.endswith("num_batches_tracked"):
                if keep_num_batches_tracked:
                    tensors[key] = value.detach().to(torch.int64).reshape(())
                continue
            tensors[key] = value.detach().to(torch.float32)
        write_safetensors(path, tensors, self.metadata())

    def load(self, path, strict=True):
        """Load an srmds weight file whose form and config match this module."""
        tensors, meta = read_safetensors(path)
        check_metadata(meta, path)
        if meta["form"] != self.form:
            raise ValueError("%s: file holds the %s form, module is %s" % (path, meta["form"], self.form))
        tensors = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
        if self.form == "fused" and self.heads == 1:  # head1..head3 of a fused file: checked, not used
            b = self.config["base"]
            for s, c in ((1, b), (2, 2 * b), (3, 4 * b)):  # heads on d1, d2, d3
                for key, shape in (("weight", (1, c, 1, 1)), ("bias", (1,))):
                    name = "head%d.%s" % (s, key)
                    if name in tensors:
                        if tuple(tensors[name].shape) != shape:
                            raise ValueError("%s: tensor %s has shape %s, expected %s"
                                             % (path, name, tuple(tensors[name].shape), shape))
                        del tensors[name]
        self.load_state_dict(tensors, strict=strict)
        return self

    @staticmethod
    def from_file(path):
        """The module (form and config as the file says) with the file's weights, in eval mode."""
        _, meta = read_safetensors(path, header_only=True)
        check_metadata(meta, path)
        net = SRMDSNet(json.loads(meta["config"]), meta["form"])
        return net.load(path).eval()


def check_metadata(meta, path):
    if meta.get("format") != "srmds" or meta.get("form") not in ("train", "fused") or "config" not in meta:
        raise ValueError("%s: not an srmds weight file (metadata %r)" % (path, meta))


# ---- minimal safetensors ----------------------------------------------------------------------

_DTYPES = {"F32": (np.float32, 4), "F64": (np.float64, 8), "I64": (np.int64, 8)}
_NP_TO_ST = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}


def write_safetensors(path, tensors, metadata):
    """tensors: {name: torch.Tensor}; metadata: {str: str}. Names sorted, header padded to 8 bytes."""
    header = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().numpy())
        dtype = _NP_TO_ST.get(arr.dtype)
        if dtype is None:
            raise ValueError("write_safetensors: unsupported dtype %s for %s" % (arr.dtype, name))
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path, header_only=False):
    """({name: torch.Tensor}, metadata) with checked offsets; header_only skips the data."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: truncated safetensors file" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError("%s: header length %d exceeds the file" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    tensors = {}
    if header_only:
        return tensors, meta
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        np_dtype, size = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if not 0 <= begin <= end <= len(data) or end - begin != count * size:
            raise ValueError("%s: tensor %s has bad data offsets" % (path, name))
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(np_dtype).newbyteorder("<"))
        tensors[name] = torch.from_numpy(arr.astype(np_dtype).reshape(info["shape"]))
    return tensors, meta


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())


def main(argv=None):
    ap = argparse.ArgumentParser(description="srmds PyTorch twin: inspect or fuse a weight file")
    ap.add_argument("model", help="srmds .safetensors file")
    ap.add_argument("--fuse-out", help="write the fused form here")
    args = ap.parse_args(argv)
    net = SRMDSNet.from_file(args.model)
    print("form %s, %d parameters, config %s" % (net.form, count_parameters(net), json.dumps(net.config)))
    if args.fuse_out:
        net.fuse().save(args.fuse_out)
        print("wrote", args.fuse_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
