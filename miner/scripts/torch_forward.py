#!/usr/bin/env python3
"""PyTorch CPU inference of the very same products and models as miner/benches/forward.rs.

Usage: python3 miner/scripts/torch_forward.py THREADS MLP_FILE GPT_FILE ROWS SEQUENCES
Prints `matmul MxKxN <GF/s>`, `mlp <examples/s>` and `gpt <tokens/s>`, each the
best of several rounds under `torch.inference_mode()`, with the weights of the
model files the bench wrote.
"""
import sys, time

import torch

from torch_models import gpt_from_file, mlp_from_file


def best(rounds, f):
    f()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    threads, mlp_file, gpt_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    rows, sequences = int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with torch.inference_mode():
        for m, k, n in [(256, 256, 256), (1024, 1024, 1024), (64, 768, 3072)]:
            x, w = torch.rand(m, k) - 0.5, torch.rand(k, n) - 0.5
            rounds = 3 if m * k * n > 100_000_000 else 10
            s = best(rounds, lambda: x @ w)
            print(f"matmul {m}x{k}x{n} {2 * m * k * n / s / 1e9:.2f}")
        mlp = mlp_from_file(mlp_file).eval()
        x = torch.rand(rows, mlp[0].in_features)
        print(f"mlp {rows / best(5, lambda: mlp(x)):.1f}")
        gpt = gpt_from_file(gpt_file).eval()
        context = gpt.pos.weight.shape[0]
        ids = (torch.arange(sequences * context) * 7 % gpt.tok.weight.shape[0]).view(sequences, context)
        print(f"gpt {sequences * context / best(3, lambda: gpt(ids)):.1f}")


if __name__ == "__main__":
    main()
