//! The simulated world's ground truth: real model files (small MLPs, so the
//! coordinator's upload checks run on them) and what an honest evaluator
//! would find for each, as a pure function of the bytes and the hidden set.

use std::collections::BTreeMap;

use bounties::encoding::{example_scores_digest, sha256, tagged_hash};
use bounties::message::{Receipt, Unscorable, Verdict};
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use bounties::{Hash32, Score, SubmissionId, arch};

/// The architecture every simulated model has.
pub const ARCH: &str = "mlp:4,3,2";
/// Every hidden set has this many examples.
pub const EXAMPLES: usize = 8;

/// A model file from `seed`; `label` goes into the metadata only, so two
/// labels give two files with the same weights (a copy).
pub fn model_file(seed: u64, label: &str) -> Vec<u8> {
    let arch: arch::Architecture = ARCH.parse().expect("the simulation's architecture");
    let specs = arch.tensors();
    let mut n = 0u64;
    let bytes: Vec<Vec<u8>> = specs
        .iter()
        .map(|s| {
            let count = s.shape.iter().product::<u64>();
            (0..count)
                .flat_map(|_| {
                    n += 1;
                    let h = sha256(&[seed.to_le_bytes(), n.to_le_bytes()].concat());
                    let v = f32::from(h.0[0]) / 255.0 - 0.5;
                    v.to_le_bytes()
                })
                .collect()
        })
        .collect();
    let tensors: Vec<TensorData<'_>> = specs
        .iter()
        .zip(&bytes)
        .map(|(s, b)| TensorData {
            name: &s.name,
            dtype: Dtype::F32,
            shape: s.shape.clone(),
            data: b,
        })
        .collect();
    let meta: BTreeMap<String, String> = [
        (arch::ARCHITECTURE_TAG.to_owned(), arch.to_string()),
        ("Name".to_owned(), label.to_owned()),
    ]
    .into();
    tensorfile::write(&meta, &tensors).expect("a model file")
}

/// The weights hash of a file, if it is a model file at all.
pub fn weights_of(file: &[u8]) -> Option<Hash32> {
    TensorFile::parse(file).ok().map(|f| f.weights_hash())
}

/// What an honest evaluator finds for these bytes under this claim.
pub fn true_verdict(file: Option<&[u8]>, claimed: Hash32, hidden: Hash32) -> Verdict {
    let Some(file) = file else {
        return Verdict::Unscorable(Unscorable::Missing);
    };
    let Some(computed) = weights_of(file) else {
        return Verdict::Unscorable(Unscorable::Malformed);
    };
    if computed != claimed {
        return Verdict::Unscorable(Unscorable::WeightsMismatch { computed });
    }
    scored(claimed, &true_examples(computed, hidden))
}

/// Each example right or wrong, from the weights and the hidden set: some
/// models clear a bounty's baseline and some do not.
pub fn true_examples(weights: Hash32, hidden: Hash32) -> Vec<i64> {
    let h = tagged_hash(b"sim/truth", &[&weights.0, &hidden.0]);
    (0..EXAMPLES)
        .map(|i| {
            if !h.0[i].is_multiple_of(3) {
                Score::SCALE
            } else {
                0
            }
        })
        .collect()
}

/// A scored verdict for these per-example scores.
pub fn scored(weights: Hash32, examples: &[i64]) -> Verdict {
    Verdict::Scored {
        weights_hash: weights,
        score: Score(examples.iter().sum::<i64>() / examples.len() as i64),
        example_digest: example_scores_digest(examples),
        example_scores: examples.to_vec(),
    }
}

/// A receipt.
pub fn receipt(submission: SubmissionId, hidden: Hash32, verdict: Verdict) -> Receipt {
    Receipt {
        submission,
        dataset: hidden,
        evaluator_build: sha256(b"sim evaluator"),
        verdict,
    }
}
