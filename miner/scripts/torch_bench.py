#!/usr/bin/env python3
"""PyTorch CPU training throughput of the very same models as miner/benches/train.rs.

Usage: python3 miner/scripts/torch_bench.py THREADS
Prints `mlp <samples/s>` and `gpt <tokens/s>`. Same architectures, batch sizes,
AdamW and losses as the miner: mlp 64-256-256-10 (batch 64); gpt with token and
position embeddings, 4 pre-norm blocks (width 128, 4 heads, GELU tanh MLP 4x),
final layer norm, untied head, context 64, batch 16.
"""
import sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_models import Gpt


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


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    x = torch.rand(64, 64)
    y = torch.arange(64) % 10
    print(f"mlp {rate(mlp, x, y, 64):.1f}")
    ids = (torch.arange(16 * 64) * 7 % 96).view(16, 64)
    print(f"gpt {rate(Gpt(), ids, (ids + 1) % 96, 16 * 64):.1f}")
