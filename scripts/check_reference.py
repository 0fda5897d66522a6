#!/usr/bin/env python3
"""Compare an evaluator receipt (evaluator score --json) with the numpy
reference's output (scripts/reference_eval.py) for the same model, dataset
and metric: the score, the digest and every per-example score must be equal.

    python3 scripts/check_reference.py RECEIPT.json REFERENCE.json
"""

import json
import sys


def main():
    receipt, reference = (json.load(open(p)) for p in sys.argv[1:3])
    verdict = receipt["receipt"]["verdict"]
    ours, theirs = verdict["example_scores"], reference["example_scores"]
    if len(ours) != len(theirs):
        sys.exit(f"example counts differ: evaluator {len(ours)}, reference {len(theirs)}")
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    if differ:
        i = differ[0]
        sys.exit(f"{len(differ)} of {len(ours)} per-example scores differ; the first, example {i}: "
                 f"evaluator {ours[i]}, reference {theirs[i]}")
    if verdict["example_digest"] != reference["example_digest"] or verdict["score"] != reference["score"]:
        sys.exit("score or digest differ although every example agrees")
    print(f"   {reference['metric']:<13} {len(ours)} examples, score {verdict['score']}: identical")


if __name__ == "__main__":
    main()
