//! all-MiniLM-L6-v2 on real text, side by side in one run: the evaluator's
//! deterministic forward pass (each text at its own length, one text per
//! thread), the miner's candle forward (one padded batch with a key mask)
//! and PyTorch/transformers' (miner/scripts/torch_bert.py, run by
//! `TORCH_PYTHON` or `python3`; "-" without torch), in tokens/s; then one
//! LoRA training step (rank 8, alpha 16, query and value, and the head;
//! AdamW) in candle beside PEFT's, in tokens/s. Tokens are the texts' own
//! (padding is not counted); the texts are the first VADER movie snippets,
//! cut to 64 tokens.
//!
//! Needs `python3 scripts/fetch-minilm.py` and `python3 scripts/fetch-vader.py`.
//! Run: `cargo bench -p miner --bench bert` (`BERT_TEXTS=N` texts, default 256).

// A bench is a shell: it reads the clock and the environment.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use bounties::arch::Architecture;
use bounties::arch::bert::Pooling;
use bounties::arch::lora::LoraSpec;
use bounties::spec::Task;
use candle_core::{Device, Tensor};
use datasets::wordpiece::WordPiece;
use evaluator::model::{Limits, Model};
use miner::import::{ImportOptions, import_dir};
use miner::model::{NO_TOKEN, Params};
use miner::optim::AdamW;

#[path = "support/best.rs"]
mod timing;
#[path = "support/torch.rs"]
mod torch;

use timing::best;

const SEQUENCE: usize = 64;
const BATCH: usize = 32;
const STEPS: usize = 4;

/// `rows` padded with [`NO_TOKEN`] to the longest, as the miner batches them.
fn padded(rows: &[Vec<u32>]) -> Tensor {
    let width = rows.iter().map(Vec::len).max().unwrap_or(1);
    let mut ids = Vec::with_capacity(rows.len() * width);
    for r in rows {
        ids.extend_from_slice(r);
        ids.resize(ids.len() + width - r.len(), NO_TOKEN);
    }
    Tensor::from_vec(ids, (rows.len(), width), &Device::Cpu).unwrap()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let folder = root.join("target/models/all-minilm-l6-v2");
    let movies = root.join("target/data/vader/movies.tsv");
    if !folder.join("model.safetensors").is_file() || !movies.is_file() {
        eprintln!(
            "needs MiniLM and the VADER snippets: run `python3 scripts/fetch-minilm.py` and `python3 scripts/fetch-vader.py`"
        );
        std::process::exit(2);
    }
    let n: usize = std::env::var("BERT_TEXTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let json = std::fs::read(folder.join("tokenizer.json")).unwrap();
    let wordpiece = WordPiece::from_json(&json, "tokenizer.json").unwrap();
    let text = std::fs::read_to_string(&movies).unwrap();
    let rows: Vec<Vec<u32>> = text
        .lines()
        .skip(1)
        .take(n)
        .map(|l| wordpiece.encode(l.split_once('\t').map_or(l, |(_, t)| t), SEQUENCE))
        .collect();
    let tokens: usize = rows.iter().map(Vec::len).sum();

    let opts = ImportOptions {
        classes: 2,
        pool: Pooling::Mean,
        tags: BTreeMap::new(),
    };
    let base = import_dir(&folder, &opts).unwrap().bytes;
    let dir = std::env::temp_dir().join(format!("bert-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ids_file = dir.join("ids.json");
    std::fs::write(&ids_file, serde_json::to_vec(&rows).unwrap()).unwrap();
    // PyTorch first, alone, so it never shares the cores with us.
    let out = torch::command("torch_bert.py")
        .arg(threads.to_string())
        .arg(&folder)
        .arg(&ids_file)
        .arg(BATCH.to_string())
        .arg(STEPS.to_string())
        .output();
    let mut theirs: BTreeMap<String, f64> = BTreeMap::new();
    match out {
        Ok(out) if out.status.success() => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((k, v)) = line.rsplit_once(' ')
                    && let Ok(v) = v.parse()
                {
                    theirs.insert(k.to_owned(), v);
                }
            }
        }
        Ok(out) => eprintln!(
            "torch_bert.py failed (no PyTorch column): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => eprintln!("no python for the PyTorch column: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);

    let model = Model::from_bytes(&base, Limits::default()).unwrap();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let evaluator = best(3, || {
        std::hint::black_box(model.forward_bert(&refs, threads).unwrap());
    });
    let params = Params::from_file(&base, &Device::Cpu).unwrap();
    let batch = padded(&rows);
    let candle = best(3, || {
        std::hint::black_box(params.forward(&batch).unwrap());
    });

    // LoRA: one warm-up step, then STEPS timed, as the script does.
    let Architecture::Bert(spec) = &params.arch else {
        unreachable!("an imported bert")
    };
    let lora = LoraSpec::parse("rank=8,alpha=16,targets=query+value", spec).unwrap();
    let mut tuned = Params::from_file(&base, &Device::Cpu).unwrap();
    tuned.add_lora(lora, "bench").unwrap();
    let mut opt = AdamW::new(tuned.vars(), 1e-3, 0.01).unwrap();
    let chunks: Vec<&[Vec<u32>]> = rows.chunks(BATCH).take(STEPS + 1).collect();
    let labels = |k: usize| {
        let y: Vec<u32> = (0..k).map(|i| (i % 2) as u32).collect();
        Tensor::from_vec(y, k, &Device::Cpu).unwrap()
    };
    let step = |opt: &mut AdamW, rows: &[Vec<u32>]| {
        miner::train::step(
            &tuned,
            opt,
            Task::Classification,
            &padded(rows),
            &labels(rows.len()),
        )
        .unwrap();
    };
    step(&mut opt, chunks[0]);
    let t = Instant::now();
    let mut counted = 0;
    for rows in &chunks[1..] {
        step(&mut opt, rows);
        counted += rows.iter().map(Vec::len).sum::<usize>();
    }
    let lora_ours = counted as f64 / t.elapsed().as_secs_f64();

    println!(
        "all-MiniLM-L6-v2, {n} VADER movie snippets ({tokens} tokens, at most {SEQUENCE} each), {threads} threads"
    );
    println!(
        "{:<38} {:>11} {:>11} {:>11} {:>9} {:>9}",
        "tokens/s", "ours", "candle", "pytorch", "/candle", "/pytorch"
    );
    let ratio = |a: f64, b: Option<f64>| b.map_or("-".to_owned(), |b| format!("{:.2}x", a / b));
    let text = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let ev = tokens as f64 / evaluator;
    let cd = tokens as f64 / candle;
    println!(
        "{:<38} {ev:>11.0} {cd:>11.0} {:>11} {:>9} {:>9}",
        "forward: evaluator vs candle, torch",
        text(theirs.get("forward").copied()),
        ratio(ev, Some(cd)),
        ratio(ev, theirs.get("forward").copied()),
    );
    println!(
        "{:<38} {:>11} {lora_ours:>11.0} {:>11} {:>9} {:>9}",
        "LoRA r8 q+v train step: candle vs PEFT",
        "-",
        text(theirs.get("lora-train").copied()),
        "-",
        ratio(lora_ours, theirs.get("lora-train").copied()),
    );
}
