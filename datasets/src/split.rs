//! Seeded splits into a public training part and a hidden evaluation part.
//!
//! Randomness is ChaCha20 seeded with SHA-256 of a domain tag and the seed
//! string, drawn with our own unbiased index sampling (`bounties::seeded`), so
//! the same seed gives the same split on every machine. Classification splits
//! are stratified: each class contributes `round(count · hidden_bps / 10000)`
//! examples to the hidden part. Text splits move whole blocks.

use bounties::seeded;
use bounties::spec::Task;

use crate::error::DatasetError;
use crate::format::Dataset;
use crate::text::{self, BlockMarker, TextOptions};

const DOMAIN_SPLIT: &[u8] = b"model-bounties/split/v1";

/// The two parts of a split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The public training part.
    pub train: Dataset,
    /// The hidden evaluation part.
    pub hidden: Dataset,
}

/// `round(n · bps / 10000)`, half up.
fn share(n: usize, bps: u16) -> usize {
    (n * usize::from(bps) + 5_000) / 10_000
}

/// Which of `groups` (group label per item) go to the hidden part: within
/// each group a seeded shuffle picks `round(size · hidden_bps / 10000)` items.
pub fn stratified(groups: &[u64], hidden_bps: u16, seed: &str) -> Vec<bool> {
    let mut by_group: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for (i, &g) in groups.iter().enumerate() {
        by_group.entry(g).or_default().push(i);
    }
    let mut rng = seeded::rng(DOMAIN_SPLIT, &[seed.as_bytes()]);
    let mut hidden = vec![false; groups.len()];
    for members in by_group.values_mut() {
        seeded::shuffle(&mut rng, members);
        for &i in members.iter().take(share(members.len(), hidden_bps)) {
            hidden[i] = true;
        }
    }
    hidden
}

fn check_bps(hidden_bps: u16) -> Result<(), DatasetError> {
    if hidden_bps == 0 || hidden_bps >= 10_000 {
        return Err(DatasetError::Options(
            "the hidden share must be between 1 and 9999 basis points".into(),
        ));
    }
    Ok(())
}

/// Split a classification or regression dataset (stratified by class for
/// classification). Both parts keep the original order of their examples.
pub fn split_examples(
    dataset: &Dataset,
    hidden_bps: u16,
    seed: &str,
) -> Result<Split, DatasetError> {
    check_bps(hidden_bps)?;
    let groups: Vec<u64> = match dataset.task() {
        Task::Classification => dataset
            .targets
            .as_i64()
            .expect("checked")
            .into_iter()
            .map(|l| l as u64)
            .collect(),
        _ => vec![0; dataset.examples() as usize],
    };
    let hidden = stratified(&groups, hidden_bps, seed);
    let (h, t): (Vec<usize>, Vec<usize>) = (0..groups.len()).partition(|&i| hidden[i]);
    Ok(Split {
        train: dataset.select(
            &t,
            &format!("train, seed {seed:?}, hidden {hidden_bps} bps"),
        ),
        hidden: dataset.select(
            &h,
            &format!("hidden, seed {seed:?}, hidden {hidden_bps} bps"),
        ),
    })
}

/// Split a text by whole blocks, then cut each part into windows.
pub fn split_text(
    text: &str,
    origin: &str,
    marker: &BlockMarker,
    opts: &TextOptions,
    hidden_bps: u16,
    seed: &str,
) -> Result<Split, DatasetError> {
    check_bps(hidden_bps)?;
    let blocks = text::blocks(text, marker);
    if blocks.len() < 2 {
        return Err(DatasetError::invalid(
            origin,
            "fewer than two blocks: nothing to split by",
        ));
    }
    let hidden = stratified(&vec![0; blocks.len()], hidden_bps, seed);
    // Encode the whole text first so an error names its place in the file;
    // one character is one token, so block byte ranges map to token ranges.
    let vocab: Vec<char> = opts.vocabulary.chars().collect();
    let tokens = text::encode(text, &vocab, origin)?;
    let mut token_ranges = Vec::with_capacity(blocks.len());
    let mut start = 0usize;
    for r in &blocks {
        let len = text[r.clone()].chars().count();
        token_ranges.push(start..start + len);
        start += len;
    }
    let part = |want_hidden: bool, label: &str| -> Result<Dataset, DatasetError> {
        let joined: Vec<u16> = token_ranges
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h == want_hidden)
            .flat_map(|(r, _)| tokens[r.clone()].iter().copied())
            .collect();
        let mut d = text::windows(&joined, opts, origin)?;
        d.meta.insert(
            crate::format::key::SPLIT.into(),
            format!(
                "{label}, seed {seed:?}, hidden {hidden_bps} bps of {} blocks",
                blocks.len()
            ),
        );
        Ok(d)
    };
    Ok(Split {
        train: part(false, "train")?,
        hidden: part(true, "hidden")?,
    })
}
