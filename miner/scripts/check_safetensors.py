#!/usr/bin/env python3
"""Check that Python's safetensors reads a model file the miner wrote.

Usage: python3 miner/scripts/check_safetensors.py MODEL.safetensors
Loads every tensor with safetensors.numpy, reads __metadata__, and checks the
licence and lineage tags and that the header's keys are in sorted order.
"""
import json, struct, sys

from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
tensors = load_file(path)
with safe_open(path, framework="np") as f:
    meta = f.metadata() or {}
for tag in ["Architecture", "License", "Commercial-Use", "Derivation"]:
    assert tag in meta, f"metadata lacks {tag}: {sorted(meta)}"
with open(path, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = f.read(n).decode()
keys = list(json.loads(header).keys())  # json keeps the file's order
assert keys == sorted(keys), f"header keys not sorted: {keys}"
assert list(json.loads(header)["__metadata__"].keys()) == sorted(meta), "metadata keys not sorted"
params = sum(int(t.size) for t in tensors.values())
print(f"python safetensors read {path}: {len(tensors)} tensors, {params} parameters, "
      f"{meta['Architecture']}, tags {sorted(meta)}")
