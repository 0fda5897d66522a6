//! Receipts: what an evaluator attests, signed, and how a second evaluation checks one.

use bounties::encoding::{self, example_scores_digest, sha256};
use bounties::keys::{SecretKey, Signature, verify_strict};
use bounties::message::{Unscorable, Verdict};
use bounties::{AccountId, Hash32, Receipt, Score, SubmissionId};
use serde::{Deserialize, Serialize};

use crate::score::Scored;

/// Bump when a kernel's arithmetic changes: it changes the build id.
pub const KERNELS_REVISION: &str = "kernels-v3";

/// The backend that computes scores: the CPU kernels of this crate (a GPU
/// backend following the same contract would name itself here).
pub const BACKEND: &str = "cpu";

/// What the build id is the SHA-256 of: the crate version, the kernels'
/// revision and the backend.
pub fn build_description() -> String {
    format!(
        "model-bounties evaluator {} {KERNELS_REVISION} backend={BACKEND}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The evaluator build id, `sha256(build_description())`.
pub fn build_id() -> Hash32 {
    sha256(build_description().as_bytes())
}

const DOMAIN_RECEIPT: &[u8] = b"model-bounties/receipt/v2";

/// A receipt with the evaluator's detached signature, as written to a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// The receipt (what `PostReceipt` carries; its verdict names the weights scored).
    pub receipt: Receipt,
    /// The evaluator, when signed.
    pub evaluator: Option<AccountId>,
    /// The signature over the receipt's canonical bytes, when signed.
    pub signature: Option<Signature>,
}

fn payload(receipt: &Receipt) -> Vec<u8> {
    encoding::signing_payload(DOMAIN_RECEIPT, "", &encoding::encode(receipt))
}

/// The receipt of this build for `verdict`, signed with `key` if given.
fn signed(
    submission: SubmissionId,
    dataset: Hash32,
    verdict: Verdict,
    key: Option<&SecretKey>,
) -> SignedReceipt {
    let receipt = Receipt {
        submission,
        dataset,
        evaluator_build: build_id(),
        verdict,
    };
    let (evaluator, signature) = match key {
        Some(k) => (Some(k.account()), Some(k.sign(&payload(&receipt)))),
        None => (None, None),
    };
    SignedReceipt {
        receipt,
        evaluator,
        signature,
    }
}

/// Build (and, with a key, sign) the receipt for a scoring of the model whose
/// weights hash is `weights_hash`.
pub fn make(
    scored: &Scored,
    submission: SubmissionId,
    dataset: Hash32,
    weights_hash: Hash32,
    key: Option<&SecretKey>,
) -> SignedReceipt {
    let verdict = Verdict::Scored {
        weights_hash,
        score: scored.score,
        example_digest: example_scores_digest(&scored.per_example),
        example_scores: scored.per_example.clone(),
    };
    signed(submission, dataset, verdict, key)
}

/// Build (and, with a key, sign) the receipt saying a submission's file cannot be scored.
pub fn make_unscorable(
    submission: SubmissionId,
    dataset: Hash32,
    why: Unscorable,
    key: Option<&SecretKey>,
) -> SignedReceipt {
    signed(submission, dataset, Verdict::Unscorable(why), key)
}

/// Where a receipt and a recomputation part ways.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Difference {
    /// Another model.
    #[error("weights hash: receipt {receipt}, model {actual}")]
    Model {
        /// In the receipt.
        receipt: Hash32,
        /// Recomputed.
        actual: Hash32,
    },
    /// Another dataset.
    #[error("dataset: receipt {receipt}, dataset {actual}")]
    Dataset {
        /// In the receipt.
        receipt: Hash32,
        /// Recomputed.
        actual: Hash32,
    },
    /// The digest does not match the receipt's own per-example scores.
    #[error("the receipt's example digest does not match its per-example scores")]
    Digest,
    /// A different number of examples.
    #[error("per-example scores: receipt has {receipt}, recomputed {actual}")]
    Count {
        /// In the receipt.
        receipt: usize,
        /// Recomputed.
        actual: usize,
    },
    /// An example scored differently.
    #[error(
        "example {index}: receipt {receipt}, recomputed {actual} ({differing} examples differ)"
    )]
    Example {
        /// The first differing example.
        index: usize,
        /// In the receipt.
        receipt: i64,
        /// Recomputed.
        actual: i64,
        /// How many differ.
        differing: usize,
    },
    /// The score differs.
    #[error("score: receipt {receipt}, recomputed {actual}")]
    Score {
        /// In the receipt.
        receipt: Score,
        /// Recomputed.
        actual: Score,
    },
    /// The signature does not verify.
    #[error("the signature does not verify for evaluator {0}")]
    Signature(AccountId),
    /// The receipt says the file could not be scored, but it was.
    #[error("the receipt says the model is unscorable ({0}), but it scores")]
    Unscorable(&'static str),
}

/// Compare a receipt with a recomputation, field by field.
pub fn verify(
    signed: &SignedReceipt,
    scored: &Scored,
    dataset: Hash32,
    weights_hash: Hash32,
) -> Result<(), Difference> {
    let r = &signed.receipt;
    if let (Some(who), Some(sig)) = (signed.evaluator, signed.signature) {
        verify_strict(&who, &payload(r), &sig).map_err(|_| Difference::Signature(who))?;
    }
    let (receipt_weights, score, example_scores, example_digest) = match &r.verdict {
        Verdict::Scored {
            weights_hash,
            score,
            example_scores,
            example_digest,
        } => (weights_hash, score, example_scores, example_digest),
        Verdict::Unscorable(why) => return Err(Difference::Unscorable(why.as_str())),
    };
    if *receipt_weights != weights_hash {
        return Err(Difference::Model {
            receipt: *receipt_weights,
            actual: weights_hash,
        });
    }
    if r.dataset != dataset {
        return Err(Difference::Dataset {
            receipt: r.dataset,
            actual: dataset,
        });
    }
    if example_scores_digest(example_scores) != *example_digest {
        return Err(Difference::Digest);
    }
    if example_scores.len() != scored.per_example.len() {
        return Err(Difference::Count {
            receipt: example_scores.len(),
            actual: scored.per_example.len(),
        });
    }
    let differing: Vec<usize> = (0..example_scores.len())
        .filter(|&i| example_scores[i] != scored.per_example[i])
        .collect();
    if let Some(&index) = differing.first() {
        return Err(Difference::Example {
            index,
            receipt: example_scores[index],
            actual: scored.per_example[index],
            differing: differing.len(),
        });
    }
    if *score != scored.score {
        return Err(Difference::Score {
            receipt: *score,
            actual: scored.score,
        });
    }
    Ok(())
}
