#!/usr/bin/env python3
"""PyTorch CPU training throughput of the very same models as miner/benches/train.rs.

Usage: python3 miner/scripts/torch_bench.py THREADS
Prints `mlp <samples/s>` and `gpt <tokens/s>`. Same architectures, batch sizes,
AdamW and losses as the miner: mlp 64-256-256-10 (batch 64); gpt with token and
position embeddings, 4 pre-norm blocks (width 128, 4 heads, GELU tanh MLP 4x),
final layer norm, untied head, context 64, batch 16.
"""
import math, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(0)


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


def rate(model, x, y, units):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    def step():
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(20):
        step()
    return 20 * units / (time.perf_counter() - t)


mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
x = torch.rand(64, 64)
y = torch.arange(64) % 10
print(f"mlp {rate(mlp, x, y, 64):.1f}")
ids = (torch.arange(16 * 64) * 7 % 96).view(16, 64)
print(f"gpt {rate(Gpt(), ids, (ids + 1) % 96, 16 * 64):.1f}")
