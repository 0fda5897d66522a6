//! A state as bytes (an image), so that a front-end or a restart reaches the
//! head by loading the image taken at a snapshot and replaying only the log
//! after it: start-up in time proportional to the state and the tail, not to
//! the whole log.
//!
//! An image is checked when loaded, never trusted: the state root it yields
//! must be the one recorded with its snapshot, ordered maps must come in
//! strictly increasing key order (so no key twice), and what the root does
//! not cover is rebuilt from what it does (the artifact index) or checked
//! against it (each final score's per-example scores against its digest).

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use imbl::{OrdMap, OrdSet};

use super::records::{
    ArtifactUse, Bounty, Evaluator, Licence, Model, Origin, ReceiptRecord, Submission,
};
use super::{Head, State, Supply};
use crate::encoding::example_scores_digest;
use crate::genesis::Params;
use crate::ids::{AccountId, Amount, BountyId, Hash32, SubmissionId};
use crate::message::Finding;

/// The layout written by [`State::to_image`]; a different one is refused.
pub const IMAGE_VERSION: u16 = 1;

/// Why an image was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// The bytes do not decode as an image.
    #[error("the state image does not decode: {0}")]
    Malformed(String),
    /// An image of another layout.
    #[error("the state image is version {0}; this build reads version {IMAGE_VERSION}")]
    Version(u16),
    /// A map's keys are not strictly increasing.
    #[error("the state image's {0} are not in strictly increasing key order")]
    Unordered(&'static str),
    /// The state it yields has another root than the snapshot's.
    #[error("the state image yields root {got}, not the snapshot's {expected}")]
    Root {
        /// The snapshot's.
        expected: Hash32,
        /// The image's.
        got: Hash32,
    },
    /// Per-example scores that do not match their final score.
    #[error("the state image's per-example scores of submission {0} do not match its final score")]
    Examples(SubmissionId),
}

/// Every part of a [`State`], as sequences in key order.
#[derive(BorshSerialize, BorshDeserialize)]
struct Image {
    version: u16,
    chain_id: String,
    params: Params,
    minter: AccountId,
    operator: AccountId,
    head: Head,
    supply: Supply,
    balances: Vec<(AccountId, Amount)>,
    nonces: Vec<(AccountId, u64)>,
    bounties: Vec<(BountyId, Bounty)>,
    submissions: Vec<(SubmissionId, Submission)>,
    bounty_submissions: Vec<(BountyId, SubmissionId)>,
    submission_counts: Vec<((BountyId, AccountId), u32)>,
    models: Vec<(Hash32, Model)>,
    children: Vec<(Hash32, Hash32)>,
    evaluators: Vec<(AccountId, Evaluator)>,
    receipts: Vec<((SubmissionId, AccountId), ReceiptRecord)>,
    final_examples: Vec<(SubmissionId, Vec<i64>)>,
    licences: Vec<(u64, Licence)>,
    licences_by_licensee: Vec<(AccountId, u64)>,
    licences_by_model: Vec<(Hash32, u64)>,
}

fn pairs<K: Ord + Clone, V: Clone>(m: &OrdMap<K, V>) -> Vec<(K, V)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn items<K: Ord + Clone>(s: &OrdSet<K>) -> Vec<K> {
    s.iter().cloned().collect()
}

fn map<K: Ord + Clone, V: Clone>(
    what: &'static str,
    v: Vec<(K, V)>,
) -> Result<OrdMap<K, V>, ImageError> {
    if !v.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(ImageError::Unordered(what));
    }
    Ok(v.into_iter().collect())
}

fn set<K: Ord + Clone>(what: &'static str, v: Vec<K>) -> Result<OrdSet<K>, ImageError> {
    if !v.windows(2).all(|w| w[0] < w[1]) {
        return Err(ImageError::Unordered(what));
    }
    Ok(v.into_iter().collect())
}

impl State {
    /// This state as an image ([`State::from_image`] reads it back).
    pub fn to_image(&self) -> Vec<u8> {
        let image = Image {
            version: IMAGE_VERSION,
            chain_id: self.chain_id.clone(),
            params: self.params.clone(),
            minter: self.minter,
            operator: self.operator,
            head: self.head,
            supply: self.supply,
            balances: pairs(&self.balances),
            nonces: pairs(&self.nonces),
            bounties: pairs(&self.bounties),
            submissions: pairs(&self.submissions),
            bounty_submissions: items(&self.bounty_submissions),
            submission_counts: pairs(&self.submission_counts),
            models: pairs(&self.models),
            children: items(&self.children),
            evaluators: pairs(&self.evaluators),
            receipts: pairs(&self.receipts),
            final_examples: self
                .final_examples
                .iter()
                .map(|(k, v)| (*k, v.as_ref().clone()))
                .collect(),
            licences: pairs(&self.licences),
            licences_by_licensee: items(&self.licences_by_licensee),
            licences_by_model: items(&self.licences_by_model),
        };
        crate::encoding::encode(&image)
    }

    /// The state in `bytes`, provided its root is `expected_root` and its
    /// parts agree with each other.
    pub fn from_image(bytes: &[u8], expected_root: Hash32) -> Result<State, ImageError> {
        let image: Image =
            borsh::from_slice(bytes).map_err(|e| ImageError::Malformed(e.to_string()))?;
        if image.version != IMAGE_VERSION {
            return Err(ImageError::Version(image.version));
        }
        let mut state = State {
            chain_id: image.chain_id,
            params: image.params,
            minter: image.minter,
            operator: image.operator,
            head: image.head,
            supply: image.supply,
            balances: map("balances", image.balances)?,
            nonces: map("nonces", image.nonces)?,
            bounties: map("bounties", image.bounties)?,
            submissions: map("submissions", image.submissions)?,
            bounty_submissions: set("bounty submissions", image.bounty_submissions)?,
            submission_counts: map("submission counts", image.submission_counts)?,
            models: map("models", image.models)?,
            children: set("children", image.children)?,
            evaluators: map("evaluators", image.evaluators)?,
            receipts: map("receipts", image.receipts)?,
            final_examples: map(
                "per-example scores",
                image
                    .final_examples
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(v)))
                    .collect(),
            )?,
            licences: map("licences", image.licences)?,
            licences_by_licensee: set("licences by licensee", image.licences_by_licensee)?,
            licences_by_model: set("licences by model", image.licences_by_model)?,
            artifact_uses: OrdMap::new(),
        };
        let got = state.root();
        if got != expected_root {
            return Err(ImageError::Root {
                expected: expected_root,
                got,
            });
        }
        state.check_final_examples()?;
        state.artifact_uses = state.rebuilt_artifact_uses();
        Ok(state)
    }

    /// Each scored final finding has its per-example scores, matching its
    /// digest, and nothing else has any.
    fn check_final_examples(&self) -> Result<(), ImageError> {
        for (sid, sub) in &self.submissions {
            let digest = match sub.final_score.as_deref().map(|f| &f.finding) {
                Some(Finding::Scored { example_digest, .. }) => Some(*example_digest),
                _ => None,
            };
            let examples = self.final_examples.get(sid);
            match (digest, examples) {
                (None, None) => {}
                (Some(d), Some(ex)) if example_scores_digest(ex) == d => {}
                _ => return Err(ImageError::Examples(*sid)),
            }
        }
        match self
            .final_examples
            .keys()
            .find(|sid| !self.submissions.contains_key(*sid))
        {
            Some(sid) => Err(ImageError::Examples(*sid)),
            None => Ok(()),
        }
    }

    /// What the log names each artifact as, from the bounties, submissions
    /// and models (the index `apply` keeps): a hidden set, a submission's
    /// file and a published file are each refused if already named, so each
    /// was its hash's first use; a training set takes a hash only if nothing
    /// named it before, and bounty ids rise with the log.
    fn rebuilt_artifact_uses(&self) -> OrdMap<Hash32, ArtifactUse> {
        let mut uses = OrdMap::new();
        for (id, bounty) in &self.bounties {
            uses.insert(bounty.spec.hidden_dataset, ArtifactUse::HiddenSet(*id));
        }
        for (sid, sub) in &self.submissions {
            uses.insert(sub.file_hash, ArtifactUse::ModelFile(*sid));
        }
        for (weights, model) in &self.models {
            if let Origin::Published { file_hash, .. } = &model.origin {
                uses.insert(*file_hash, ArtifactUse::Published(*weights));
            }
        }
        for (id, bounty) in &self.bounties {
            uses.entry(bounty.spec.train_dataset)
                .or_insert(ArtifactUse::TrainSet(*id));
        }
        uses
    }
}
