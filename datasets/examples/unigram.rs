//! The unigram baseline of a bundled text: the cross-entropy (nats per
//! character) on the hidden part of add-one-smoothed character frequencies
//! counted on the public part. A language model must beat it to have learnt
//! anything beyond letter frequencies.
//!
//! Run: `cargo run -p datasets --example unigram -- moby-dick`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "moby-dick".into());
    let split = datasets::bundled::split(&name, datasets::bundled::DEFAULT_SEED)?;
    let vocab = split.train.vocabulary().ok_or("not a text dataset")?.len();
    let mut counts = vec![1u64; vocab];
    for &t in &split.train.targets.data {
        counts[usize::from(t)] += 1;
    }
    let total: u64 = counts.iter().sum();
    let nll: f64 = split
        .hidden
        .targets
        .data
        .iter()
        .map(|&t| -(counts[usize::from(t)] as f64 / total as f64).ln())
        .sum();
    let ce = nll / split.hidden.targets.data.len() as f64;
    println!("{name}: unigram cross-entropy on the hidden part {ce:.6} nats/char");
    Ok(())
}
