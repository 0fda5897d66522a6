//! all-MiniLM-L6-v2 forward on the first VADER movie snippets, side by side
//! in one run: candle-transformers' `BertModel` (one padded batch with its
//! attention mask, as its users run it) and the evaluator's deterministic
//! forward (each text at its own length). Tokens/s of the texts' own tokens.
//! `BERT_TEXTS=N` texts (default 256), at most 64 tokens each.

use std::collections::BTreeMap;
use std::path::Path;

use bounties::arch::bert::Pooling;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use datasets::wordpiece::WordPiece;
use evaluator::model::{Limits, Model};
use miner::import::{ImportOptions, import_dir};

// The timer the workspace's benches share.
#[path = "../../../miner/benches/support/best.rs"]
mod timing;
use timing::best;

fn main() {
    let folder = Path::new("target/models/all-minilm-l6-v2");
    let movies = Path::new("target/data/vader/movies.tsv");
    assert!(
        folder.join("model.safetensors").is_file() && movies.is_file(),
        "run from the repository root after `python3 scripts/fetch-minilm.py` and `python3 scripts/fetch-vader.py`"
    );
    let n: usize = std::env::var("BERT_TEXTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let json = std::fs::read(folder.join("tokenizer.json")).unwrap();
    let wordpiece = WordPiece::from_json(&json, "tokenizer.json").unwrap();
    let text = std::fs::read_to_string(movies).unwrap();
    let rows: Vec<Vec<u32>> = text
        .lines()
        .skip(1)
        .take(n)
        .map(|l| wordpiece.encode(l.split_once('\t').map_or(l, |(_, t)| t), 64))
        .collect();
    let tokens: usize = rows.iter().map(Vec::len).sum();

    // candle-transformers, straight from the package's files.
    let dev = Device::Cpu;
    let config: Config =
        serde_json::from_slice(&std::fs::read(folder.join("config.json")).unwrap()).unwrap();
    let weights = std::fs::read(folder.join("model.safetensors")).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &dev).unwrap();
    let bert = BertModel::load(vb, &config).unwrap();
    let width = rows.iter().map(Vec::len).max().unwrap();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for r in &rows {
        ids.extend(r.iter().copied());
        ids.resize(ids.len() + width - r.len(), 0);
        mask.extend(std::iter::repeat_n(1u32, r.len()));
        mask.resize(mask.len() + width - r.len(), 0);
    }
    let ids = Tensor::from_vec(ids, (rows.len(), width), &dev).unwrap();
    let mask = Tensor::from_vec(mask, (rows.len(), width), &dev).unwrap();
    let types = ids.zeros_like().unwrap();
    let theirs = best(3, || {
        std::hint::black_box(bert.forward(&ids, &types, Some(&mask)).unwrap());
    });

    // The evaluator, on the imported file of the same weights.
    let opts = ImportOptions {
        classes: 2,
        pool: Pooling::Mean,
        tags: BTreeMap::new(),
    };
    let model =
        Model::from_bytes(&import_dir(folder, &opts).unwrap().bytes, Limits::default()).unwrap();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let ours = best(3, || {
        std::hint::black_box(model.forward_bert(&refs, threads).unwrap());
    });
    println!(
        "all-MiniLM-L6-v2, {n} VADER movie snippets ({tokens} tokens, padded batch {}x{width}), {threads} threads",
        rows.len()
    );
    println!(
        "forward tokens/s: evaluator {:.0}, candle-transformers {:.0}, ratio {:.2}x",
        tokens as f64 / ours,
        tokens as f64 / theirs,
        theirs / ours
    );
}
