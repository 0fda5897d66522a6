#!/usr/bin/env python3
"""An independent implementation of the evaluator's arithmetic contract
(docs/determinism.md, kernels-v3) in Python and numpy, written from that
document: it scores a model file on a dataset file and prints the score, the
example digest and the per-example scores as JSON, which must equal the
evaluator's receipt bit for bit.

    python3 scripts/reference_eval.py MODEL DATASET [--metric M] [--limit N]

numpy is used for IEEE 754 element-wise operations on whole arrays (each one
correctly rounded), never for its reductions or matrix products: those sum in
their own orders (pairwise, blocked), and every sum here has one fixed order.
"""

import argparse
import hashlib
import json
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

F32, F64 = np.float32, np.float64


def f64_bits(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def f32_bits(bits):
    return F32(struct.unpack("<f", struct.pack("<I", bits))[0])


# ---- numbers -------------------------------------------------------------


def fma(a, b, c):
    """a*b + c rounded once to f32: the exact f64 product, an f64 sum made
    round-to-odd with its exact TwoSum error, then one rounding to f32."""
    a, b, c = (np.asarray(v, dtype=F32).astype(F64) for v in (a, b, c))
    with np.errstate(all="ignore"):
        p = a * b
        s = p + c
        pb = s - c
        e = (c - (s - pb)) + (p - pb)
        bits = s.view(np.int64)
        fix = np.isfinite(s) & (e != 0) & ((bits & 1) == 0)
        up = (e > 0) == (s > 0)
        bits = np.where(fix, np.where(up, bits + 1, bits - 1), bits)
        return bits.view(F64).astype(F32)


LOG2E = f64_bits(0x3FF71547652B82FE)
LN2 = f64_bits(0x3FE62E42FEFA39EF)
EXP2_C = [f64_bits(b) for b in (
    0x3FE62E42FEFA39EF, 0x3FCEBFBDFF82C58F, 0x3FAC6B08D704A0C0, 0x3F83B2AB6FBA4E77,
    0x3F55D87FE78A6731, 0x3F2430912F86C787, 0x3EEFFCBFC588B0C7, 0x3EB62C0223A5C824,
    0x3E7B5253D395E7C4, 0x3E3E4CF5158B8ECA,
)]
ATANH_C = [f64_bits(b) for b in (
    0x3FD5555555555555, 0x3FC999999999999A, 0x3FC2492492492492, 0x3FBC71C71C71C71C,
    0x3FB745D1745D1746, 0x3FB3B13B13B13B14, 0x3FB1111111111111,
)]


def e2m1(r):
    """2^r - 1 for |r| <= 1/2 (f64 arrays), Horner from c10 down to c1, times r."""
    p = np.full_like(r, EXP2_C[9])
    for c in reversed(EXP2_C[:9]):
        p = p * r + c
    return p * r


def pow2(n):
    return ((n.astype(np.int64) + 1023) << 52).view(F64)


def reduce(z):
    n = np.rint(z)  # round half to even
    return n, z - n


def exp(x):
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        safe = np.clip(x, -104, 89).astype(F64)
        n, r = reduce(safe * LOG2E)
        y = ((1.0 + e2m1(r)) * pow2(n)).astype(F32)
    y = np.where(x > 89, F32(np.inf), y)
    y = np.where(x < -104, F32(0), y)
    return np.where(np.isnan(x), x, y).astype(F32)


def ln(x):
    x = np.asarray(x, dtype=F32)
    tiny = x < np.finfo(F32).tiny
    xs = np.where(tiny, x * F32(8388608.0), x)
    e = np.where(tiny, -23, 0).astype(np.int64)
    bits = xs.view(np.uint32).astype(np.int64)
    e = e + ((bits >> 23) & 0xFF) - 127
    mant = bits & 0x7FFFFF
    big = mant > 0x3504F3
    e = e + big
    m = ((mant | np.where(big, 126, 127) << 23).astype(np.uint32)).view(F32).astype(F64)
    with np.errstate(all="ignore"):
        s = (m - 1.0) / (m + 1.0)
        s2 = s * s
        q = np.full_like(s, ATANH_C[6])
        for c in reversed(ATANH_C[:6]):
            q = q * s2 + c
        ln_m = 2.0 * s + (2.0 * s) * (s2 * q)
        y = (e.astype(F64) * LN2 + ln_m).astype(F32)
    y = np.where(x == 0, F32(-np.inf), y)
    y = np.where(x == np.inf, x, y)
    y = np.where(np.isnan(x) | (x < 0), F32(np.nan), y)
    return y.astype(F32)


def tanh(x):
    x = np.asarray(x, dtype=F32)
    a = np.abs(x)
    with np.errstate(all="ignore"):
        n, r = reduce((2.0 * np.minimum(a, F32(10)).astype(F64)) * LOG2E)
        e = e2m1(r)
        m = np.where(n == 0, e, (1.0 + e) * pow2(n) - 1.0)
        t = (m / (m + 2.0)).astype(F32)
    t = np.where(a >= 10, F32(1), t)
    return np.where(np.isnan(x), x, np.copysign(t, x)).astype(F32)


# ---- kernels -------------------------------------------------------------


def linear(x, w, b=None):
    """x [m, k] times w [out, k] (as stored): one fma chain per element in k order, then the bias."""
    acc = np.zeros((x.shape[0], w.shape[0]), dtype=F32)
    for k in range(x.shape[1]):
        acc = fma(x[:, k:k + 1], w[None, :, k], acc)
    return acc if b is None else (acc + b[None, :]).astype(F32)


def plain_sum(v, axis=-1):
    v = np.moveaxis(v, axis, 0)
    s = np.zeros(v.shape[1:], dtype=F32)
    for i in range(v.shape[0]):
        s = (s + v[i]).astype(F32)
    return s


def layer_norm(x, g, b, eps=f32_bits(0x3727C5AC)):
    d = F32(x.shape[-1])
    mean = (plain_sum(x) / d).astype(F32)
    c = (x - mean[:, None]).astype(F32)
    var = np.zeros(x.shape[0], dtype=F32)
    for i in range(x.shape[1]):
        var = fma(c[:, i], c[:, i], var)
    inv = (F32(1) / np.sqrt((var / d + eps).astype(F32))).astype(F32)
    return fma((c * inv[:, None]).astype(F32), g[None, :], b[None, :])


def softmax_rows(v):
    m = np.max(v, axis=-1, keepdims=True)
    e = exp((v - m).astype(F32))
    return (e / plain_sum(e)[..., None]).astype(F32)


def log_softmax_rows(v):
    m = np.max(v, axis=-1, keepdims=True)
    s = plain_sum(exp((v - m).astype(F32)))
    return ((v - m).astype(F32) - ln(s)[..., None]).astype(F32)


def gelu(u):
    c, a = f32_bits(0x3F4C422A), f32_bits(0x3D372713)
    inner = fma(a, ((u * u).astype(F32) * u).astype(F32), u)
    t = tanh((c * inner).astype(F32))
    return ((F32(0.5) * u).astype(F32) * (F32(1) + t).astype(F32)).astype(F32)


def attention(qkv, seqs, t, d, heads):
    """Causal attention over [seqs*t, 3d]; returns [seqs*t, d]."""
    dh = d // heads
    scale = (F32(1) / np.sqrt(F32(dh))).astype(F32)
    q = qkv[:, :d].reshape(seqs, t, d)
    k = qkv[:, d:2 * d].reshape(seqs, t, d)
    v = qkv[:, 2 * d:].reshape(seqs, t, d)
    out = np.zeros((seqs, t, d), dtype=F32)
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        qh, kh, vh = q[:, :, cols], k[:, :, cols], v[:, :, cols]
        # scores[s, i, j] = dot(q_i, k_j) in column order
        dot = np.zeros((seqs, t, t), dtype=F32)
        for c in range(dh):
            dot = fma(qh[:, :, None, c], kh[:, None, :, c], dot)
        scores = (dot * scale).astype(F32)
        for i in range(t):
            p = softmax_rows(scores[:, i, :i + 1])  # [seqs, i+1]
            o = np.zeros((seqs, dh), dtype=F32)
            for j in range(i + 1):
                o = fma(p[:, j:j + 1], vh[:, j, :], o)
            out[:, i, cols] = o
    return out.reshape(seqs * t, d)


# ---- files ---------------------------------------------------------------


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def parse_arch(tag):
    family, _, rest = tag.partition(":")
    if family == "mlp":
        # `+standardize`: the file's input.mean / input.std are applied first.
        return family, [int(w) for w in rest.removesuffix("+standardize").split(",")]
    return family, {k: int(v) for k, v in (kv.split("=") for kv in rest.split(","))}


def forward_mlp(wts, widths, x):
    h = x
    if "input.mean" in wts:
        h = ((h - wts["input.mean"]).astype(F32) / wts["input.std"]).astype(F32)
    layers = len(widths) - 1
    for i in range(layers):
        h = linear(h, wts[f"layers.{i}.weight"], wts[f"layers.{i}.bias"])
        if i + 1 < layers:
            h = np.maximum(h, F32(0))
    return h


def forward_gpt(wts, spec, ids):
    seqs, t = ids.shape
    d, heads = spec["width"], spec["heads"]
    x = (wts["tok_emb.weight"][ids.reshape(-1)] + np.tile(wts["pos_emb.weight"][:t], (seqs, 1))).astype(F32)
    for i in range(spec["layers"]):
        p = f"blocks.{i}"
        h = layer_norm(x, wts[f"{p}.ln1.weight"], wts[f"{p}.ln1.bias"])
        qkv = linear(h, wts[f"{p}.attn.qkv.weight"], wts[f"{p}.attn.qkv.bias"])
        a = attention(qkv, seqs, t, d, heads)
        x = (x + linear(a, wts[f"{p}.attn.proj.weight"], wts[f"{p}.attn.proj.bias"])).astype(F32)
        h = layer_norm(x, wts[f"{p}.ln2.weight"], wts[f"{p}.ln2.bias"])
        f = gelu(linear(h, wts[f"{p}.mlp.fc.weight"], wts[f"{p}.mlp.fc.bias"]))
        x = (x + linear(f, wts[f"{p}.mlp.proj.weight"], wts[f"{p}.mlp.proj.bias"])).astype(F32)
    h = layer_norm(x, wts["ln_f.weight"], wts["ln_f.bias"])
    return linear(h, wts["head.weight"])


# ---- scores --------------------------------------------------------------

SCALE = 1_000_000


def fixed(v):
    """round_half_even(v * 1e6) in f64; NaN -> i64::MAX; saturating."""
    s = float(np.rint(F64(v) * SCALE))
    if s != s or s >= 2.0**63:
        return 2**63 - 1
    return int(max(s, -(2.0**63)))


def div_half_even(num, den):
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2 != 0):
        q += 1
    return q


def digest(scores):
    domain = b"model-bounties/example-scores/v1"
    h = hashlib.sha256()
    h.update(struct.pack("<I", len(domain)) + domain + struct.pack("<Q", len(scores)))
    for s in scores:
        h.update(struct.pack("<q", s))
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("dataset")
    ap.add_argument("--metric", choices=["accuracy", "cross-entropy", "mse"])
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    wts = load_file(args.model)
    family, spec = parse_arch(metadata(args.model)["Architecture"])
    meta = metadata(args.dataset)
    data = load_file(args.dataset)
    inputs, targets = data["inputs"], data["targets"]
    if args.limit is not None:
        inputs, targets = inputs[: args.limit], targets[: args.limit]
    task = meta["Task"]
    metric = args.metric or {"classification": "accuracy", "language-model": "cross-entropy",
                             "regression": "mse"}[task]

    per = []
    if family == "mlp":
        x = inputs
        if x.dtype == np.uint8:
            x = (x.astype(F32) / F32(float(meta.get("Input-Max", "255")))).astype(F32)
        for start in range(0, len(x), 512):
            logits = forward_mlp(wts, spec, x[start:start + 512].astype(F32))
            rows = targets[start:start + 512]
            if task == "regression":
                for row, y in zip(logits, rows):
                    e = F32(row[0] - F32(y))
                    per.append(fixed(F64(F32(e * e))))
            elif metric == "accuracy":
                per += [SCALE if int(np.argmax(row)) == int(y) else 0 for row, y in zip(logits, rows)]
            else:
                ls = log_softmax_rows(logits)
                per += [fixed(F64(-ls[i, int(y)])) for i, y in enumerate(rows)]
    else:
        t = inputs.shape[1]
        for start in range(0, len(inputs), 32):
            ids = inputs[start:start + 32].astype(np.int64)
            tg = targets[start:start + 32].astype(np.int64)
            logits = forward_gpt(wts, spec, ids).reshape(len(ids), t, -1)
            for s in range(len(ids)):
                if metric == "accuracy":
                    right = sum(int(np.argmax(logits[s, p])) == int(tg[s, p]) for p in range(t))
                    per.append(div_half_even(right * SCALE, t))
                else:
                    ls = log_softmax_rows(logits[s])
                    loss = 0.0
                    for p in range(t):
                        loss += float(F64(-ls[p, tg[s, p]]))
                    per.append(fixed(loss / t))
    score = div_half_even(sum(per), len(per)) if per else 0
    json.dump({"metric": metric, "score": score, "example_digest": digest(per),
               "examples": len(per), "example_scores": per}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
