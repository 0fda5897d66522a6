//! `evaluator work`: lease a job from a coordinator, download the model and
//! the hidden set (hashes checked), score with the bounty's metric under its
//! limits, post the receipt; one job per call of [`work_one`].

use std::path::Path;

use bounties::client::{Client, ClientError};
use bounties::{Action, BountySpec, Hash32, SecretKey, SubmissionId};
use serde_json::Value;

use crate::model::{Limits, Model};
use crate::receipt;
use crate::score::{self, ScoreError};

/// What one job came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A receipt was posted.
    Scored {
        /// The submission.
        submission: u64,
        /// The bounty.
        bounty: u64,
        /// The score (millionths).
        score: i64,
    },
    /// The model cannot be scored under the bounty's limits; no receipt, the lease lapses.
    Refused {
        /// The submission.
        submission: u64,
        /// Why.
        reason: String,
    },
}

/// Why a job failed (try again later).
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The coordinator (unreachable, or it refused).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A lease that does not parse.
    #[error("unexpected job from the coordinator: {0}")]
    Job(String),
    /// A local file.
    #[error("{0}")]
    Io(String),
}

impl WorkError {
    /// Whether the coordinator could not be reached (retry with backoff).
    pub fn is_transport(&self) -> bool {
        matches!(self, WorkError::Client(ClientError::Transport { .. }))
    }
}

/// Lease and do one job; `None` when there is none.
pub fn work_one(
    client: &Client,
    key: &SecretKey,
    chain_id: &str,
    cache: &Path,
    threads: usize,
) -> Result<Option<Outcome>, WorkError> {
    let Some(job) = client.lease(key, chain_id)? else {
        return Ok(None);
    };
    let field = |k: &str| -> Result<Value, WorkError> {
        job.get(k)
            .cloned()
            .ok_or_else(|| WorkError::Job(format!("no {k}")))
    };
    let submission = field("submission")?
        .as_u64()
        .ok_or_else(|| WorkError::Job("submission".into()))?;
    let bounty = field("bounty")?
        .as_u64()
        .ok_or_else(|| WorkError::Job("bounty".into()))?;
    let hash = |k: &str| -> Result<Hash32, WorkError> {
        field(k)?
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| WorkError::Job(k.into()))
    };
    let (model_hash, data_hash) = (hash("model")?, hash("dataset")?);
    let spec: BountySpec =
        serde_json::from_value(field("spec")?).map_err(|e| WorkError::Job(e.to_string()))?;
    let model_path = client.fetch_cached(Some(key), chain_id, &model_hash, cache)?;
    let data_path = client.fetch_cached(Some(key), chain_id, &data_hash, cache)?;
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| WorkError::Io(format!("{}: {e}", p.display())));
    let limits = Limits {
        family: Some(spec.architecture.family),
        max_parameters: Some(spec.architecture.max_parameters),
    };
    let model = match Model::from_bytes(&read(&model_path)?, limits) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Some(Outcome::Refused {
                submission,
                reason: e.to_string(),
            }));
        }
    };
    let data = datasets::Dataset::from_bytes(&read(&data_path)?, "the hidden set")
        .map_err(|e| WorkError::Io(e.to_string()))?;
    let scored = match score::score(&model, &data, spec.judging.metric, threads.max(1)) {
        Ok(s) => s,
        Err(e @ ScoreError::Mismatch(_)) => {
            return Ok(Some(Outcome::Refused {
                submission,
                reason: e.to_string(),
            }));
        }
    };
    let made = receipt::make(
        &scored,
        SubmissionId(submission),
        data_hash,
        model.weights_hash,
        None,
    );
    let score = made.receipt.score.0;
    client.act(key, Action::PostReceipt(made.receipt))?;
    Ok(Some(Outcome::Scored {
        submission,
        bounty,
        score,
    }))
}
