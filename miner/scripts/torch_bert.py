#!/usr/bin/env python3
"""PyTorch's side of miner/benches/bert.rs: all-MiniLM-L6-v2 (transformers'
BertModel from the local folder, mean pooling and a two-class head) on the
very token ids the bench wrote, on the CPU.

Usage: python3 miner/scripts/torch_bert.py THREADS FOLDER IDS_JSON BATCH STEPS

Prints `forward <tokens/s>` (inference, one padded batch of every text with
its attention mask, best of three) and `lora-train <tokens/s>` (PEFT LoRA
rank 8, alpha 16, on query and value, plus the head, AdamW; STEPS steps of
BATCH texts, after one warm-up step). Tokens are the texts' own, padding not
counted. Nothing is fetched from a model hub (local files only).
"""

import json
import sys
import time

import torch
from transformers import BertModel


def best(rounds, f):
    f()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


class Classifier(torch.nn.Module):
    """BertModel, mean pooling over the real tokens, a linear head."""

    def __init__(self, folder):
        super().__init__()
        self.bert = BertModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
        self.classifier = torch.nn.Linear(self.bert.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return self.classifier((h * m).sum(1) / m.sum(1))


def padded(rows):
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def main():
    threads, folder, ids_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    batch, steps = int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = json.load(open(ids_file))
    tokens = sum(len(r) for r in rows)
    model = Classifier(folder).eval()
    ids, mask = padded(rows)
    with torch.inference_mode():
        print(f"forward {tokens / best(3, lambda: model(ids, mask)):.1f}")

    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], lora_dropout=0.0)
    tuned = Classifier(folder)
    tuned.bert = get_peft_model(tuned.bert, config)
    tuned.train()
    params = [p for p in tuned.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    labels = torch.tensor([i % 2 for i in range(len(rows))])
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)][: steps + 1]

    def step(b, i):
        x, m = padded(b)
        loss = torch.nn.functional.cross_entropy(tuned(x, m), labels[i * batch : i * batch + len(b)])
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(batches[0], 0)
    t = time.perf_counter()
    counted = 0
    for i, b in enumerate(batches[1:], start=1):
        step(b, i)
        counted += sum(len(r) for r in b)
    print(f"lora-train {counted / (time.perf_counter() - t):.1f}")


if __name__ == "__main__":
    main()
