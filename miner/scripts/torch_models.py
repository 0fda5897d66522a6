"""The miner's model families in PyTorch, for the benches that compare against it.

`Gpt` is token and position embeddings, pre-norm blocks (causal attention,
GELU-tanh MLP 4x), a final layer norm and an untied head, as
bounties::arch specifies; `load_safetensors` reads a model file the miner
wrote (the format is 8 bytes of header length, a JSON header, raw data), so
a bench can run the very same weights.
"""
import json, math, struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h) + mask[:t, :t]
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab=96, context=64, layers=4, d=128, h=4):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        self.register_buffer("mask", torch.full((context, context), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.tok(ids) + self.pos.weight[: ids.shape[1]]
        for blk in self.blocks:
            x = blk(x, self.mask)
        return self.head(self.ln_f(x))


def load_safetensors(path):
    """A safetensors file's F32 tensors by name, and its metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", f"{name} is {info['dtype']}"
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32)
        tensors[name] = t.view(*info["shape"]) if info["shape"] else t
    return tensors, meta


def gpt_from_file(path):
    """A `Gpt` holding the weights of a miner's gpt file."""
    w, meta = load_safetensors(path)
    spec = dict(kv.split("=") for kv in meta["Architecture"].split(":", 1)[1].split(","))
    layers, d, h = int(spec["layers"]), int(spec["width"]), int(spec["heads"])
    model = Gpt(int(spec["vocab"]), int(spec["context"]), layers, d, h)
    names = {"tok.weight": "tok_emb.weight", "pos.weight": "pos_emb.weight"}
    for i in range(layers):
        for ours, theirs in [("ln1", "ln1"), ("ln2", "ln2"), ("qkv", "attn.qkv"),
                             ("proj", "attn.proj"), ("fc", "mlp.fc"), ("fc_proj", "mlp.proj")]:
            for p in ("weight", "bias"):
                names[f"blocks.{i}.{ours}.{p}"] = f"blocks.{i}.{theirs}.{p}"
    for p in ("weight", "bias"):
        names[f"ln_f.{p}"] = f"ln_f.{p}"
    names["head.weight"] = "head.weight"
    model.load_state_dict({k: w[v] for k, v in names.items()}, strict=False)
    return model


def mlp_from_file(path):
    """An `nn.Sequential` of Linear/ReLU holding the weights of a miner's mlp file."""
    w, _ = load_safetensors(path)
    layers = []
    i = 0
    while f"layers.{i}.weight" in w:
        out_f, in_f = w[f"layers.{i}.weight"].shape
        lin = nn.Linear(in_f, out_f)
        lin.weight.data.copy_(w[f"layers.{i}.weight"])
        lin.bias.data.copy_(w[f"layers.{i}.bias"])
        layers += [lin, nn.ReLU()]
        i += 1
    return nn.Sequential(*layers[:-1])
