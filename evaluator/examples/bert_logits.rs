//! Print a bert's (or a LoRA adapter's, on its base) logits for the first
//! texts of a text dataset, as JSON: what `miner/scripts/peft_check.py`
//! holds Python's `peft` + `transformers` to.
//!
//! Run: `cargo run --release -p evaluator --example bert_logits -- BASE ADAPTER DATASET N`

use evaluator::model::{Limits, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, adapter, dataset, n] = args.as_slice() else {
        return Err("usage: bert_logits BASE ADAPTER DATASET N".into());
    };
    let model = Model::from_adapter(
        &std::fs::read(base)?,
        &std::fs::read(adapter)?,
        Limits::default(),
        Default::default(),
    )?;
    let data = datasets::Dataset::read_file(std::path::Path::new(dataset))?;
    let sequences = data.sequences().ok_or("not a text dataset")?;
    let n: usize = n.parse::<usize>()?.min(sequences.len());
    let views: Vec<&[u32]> = sequences[..n].iter().map(Vec::as_slice).collect();
    let logits = model.forward_bert(&views, 2)?;
    let classes = logits.len() / n.max(1);
    let rows: Vec<&[f32]> = logits.chunks(classes.max(1)).collect();
    println!("{}", serde_json::json!({ "ids": views, "logits": rows }));
    Ok(())
}
