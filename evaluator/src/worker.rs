//! `evaluator work`: lease a job from a coordinator, download the hidden set
//! and the model (hashes checked), check the model's header against the
//! bounty's limits and its weights against the submission's claim, score with
//! the bounty's metric (a LoRA adapter merged onto the bounty's base, fetched by
//! the ledger's record of it), post the receipt (a score, or why the file is
//! unscorable); one job per call of [`work_one`].

use std::path::Path;

use bounties::arch::lora::ADAPTER_TAG;
use bounties::message::Unscorable;
use bounties::tensorfile::TensorFile;
use bounties::{Action, BountySpec, SecretKey};
use bounties_api::{JobKind, LeaseGrant};
use bounties_client::{Client, ClientError};

use crate::model::{AdapterError, HeaderRead, Limits, Model, ModelError};
use crate::receipt;
use crate::score::{self, ScoreError};

/// What one job came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A receipt with a score was posted.
    Scored {
        /// The submission.
        submission: u64,
        /// The bounty.
        bounty: u64,
        /// The score (millionths).
        score: i64,
    },
    /// An audit of a final finding agreed with it (or could no longer contest it): nothing posted.
    Confirmed {
        /// The submission.
        submission: u64,
        /// The bounty.
        bounty: u64,
    },
    /// A receipt saying the file cannot be scored was posted.
    Unscorable {
        /// The submission.
        submission: u64,
        /// The bounty.
        bounty: u64,
        /// Why, as the receipt says it.
        reason: &'static str,
        /// The details, for people.
        detail: String,
    },
}

/// Why a job failed (try again later).
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The coordinator (unreachable, or it refused).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A downloaded file could not be read back.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The model could not be loaded for a reason that is not the miner's.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The hidden set does not read as a dataset (it was checked at upload).
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    /// The coordinator served, as the bounty's base, a file of other weights.
    #[error("the coordinator's file {file} for the bounty's base {base} holds other weights")]
    WrongBase {
        /// The bounty's base.
        base: bounties::Hash32,
        /// The file served for it.
        file: bounties::Hash32,
    },
}

impl WorkError {
    /// Whether the coordinator could not be reached (retry with backoff).
    pub fn is_transport(&self) -> bool {
        matches!(self, WorkError::Client(ClientError::Transport { .. }))
    }
}

/// The submitted file as a model within the bounty's limits: a whole model,
/// or a LoRA adapter merged onto the bounty's base. The inner error is the
/// file's (the receipt says unscorable); the outer one is ours or the
/// coordinator's (try again).
fn load(
    client: &Client,
    key: &SecretKey,
    chain_id: &str,
    cache: &Path,
    spec: &BountySpec,
    path: &Path,
) -> Result<Result<Model, ModelError>, WorkError> {
    let limits = Limits {
        family: Some(spec.architecture.family),
        max_parameters: Some(spec.architecture.max_parameters),
    };
    let is_adapter = match HeaderRead::open(path) {
        Ok(h) => h.header.metadata.contains_key(ADAPTER_TAG),
        Err(e) => return Ok(Err(e)),
    };
    if !is_adapter {
        return Ok(Model::from_file(path, limits));
    }
    let (Some(base), Some(adapter_limits)) = (spec.base_model, spec.architecture.adapters) else {
        return Ok(Err(AdapterError::NeedsBase.into()));
    };
    // The base is the bounty's, fetched by the file the ledger records for
    // it and held to the bounty's weights hash: never one the adapter names,
    // and a wrong one served is the coordinator's fault, not the miner's.
    let file = client.model(&base)?.file_hash;
    let base_path = client.fetch_cached(Some(key), chain_id, &file, cache)?;
    let bytes = std::fs::read(&base_path).map_err(|source| WorkError::Io {
        path: base_path.display().to_string(),
        source,
    })?;
    let served = TensorFile::parse(&bytes).map(|f| f.weights_hash());
    if served.as_ref().ok() != Some(&base) {
        return Err(WorkError::WrongBase { base, file });
    }
    // The base is read once: the check above and the merge share its bytes.
    Ok(Model::from_adapter_file(
        &bytes,
        path,
        limits,
        adapter_limits.into(),
    ))
}

/// Lease and do one job; `None` when there is none.
pub fn work_one(
    client: &Client,
    key: &SecretKey,
    chain_id: &str,
    cache: &Path,
    threads: usize,
) -> Result<Option<Outcome>, WorkError> {
    let Some(LeaseGrant { lease, spec }) = client.lease(key, chain_id)? else {
        return Ok(None);
    };
    let (submission, bounty) = (lease.submission.0, lease.bounty.0);
    let (model_hash, data_hash, claimed) = (lease.model, lease.dataset, lease.weights_hash);
    let sid = lease.submission;
    let audit = lease.kind == JobKind::Audit;
    // An audit posts only to contest: the ledger refuses a receipt that agrees
    // with the final finding, and that refusal is the audit's answer.
    let post = |receipt: bounties::Receipt| -> Result<bool, WorkError> {
        match client.act(key, Action::PostReceipt(receipt)) {
            Ok(_) => Ok(true),
            Err(ClientError::Api { code, .. })
                if audit
                    && matches!(
                        code.as_str(),
                        "score_already_final" | "dispute_window_closed" | "no_dispute_panel"
                    ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    };
    let confirmed = Outcome::Confirmed { submission, bounty };
    let unscorable = |why: Unscorable, detail: String| -> Result<Option<Outcome>, WorkError> {
        let made = receipt::make_unscorable(sid, data_hash, why, None);
        if !post(made.receipt)? {
            return Ok(Some(confirmed.clone()));
        }
        Ok(Some(Outcome::Unscorable {
            submission,
            bounty,
            reason: why.as_str(),
            detail,
        }))
    };
    // The hidden set first: without it nothing can be judged, and a failure
    // here is ours (or the coordinator's), never the miner's.
    let data_path = client.fetch_cached(Some(key), chain_id, &data_hash, cache)?;
    let model_path = match client.fetch_cached(Some(key), chain_id, &model_hash, cache) {
        Ok(p) => p,
        Err(ClientError::Api { status: 404, .. }) => {
            return unscorable(
                Unscorable::Missing,
                format!("the coordinator has no file {model_hash}"),
            );
        }
        Err(e) => return Err(e.into()),
    };
    // The header is checked against the limits before any tensor is read.
    let model = match load(client, key, chain_id, cache, &spec, &model_path)? {
        Ok(m) => m,
        Err(e) => match e.unscorable() {
            Some(why) => return unscorable(why, e.to_string()),
            None => return Err(e.into()),
        },
    };
    if model.weights_hash != claimed {
        return unscorable(
            Unscorable::WeightsMismatch {
                computed: model.weights_hash,
            },
            format!(
                "the file holds weights {}, the submission claims {claimed}",
                model.weights_hash
            ),
        );
    }
    let bytes = std::fs::read(&data_path).map_err(|source| WorkError::Io {
        path: data_path.display().to_string(),
        source,
    })?;
    let data = datasets::Dataset::from_bytes(&bytes, "the hidden set")?;
    let scored = match score::score(&model, &data, spec.judging.metric, threads.max(1)) {
        Ok(s) => s,
        // A model whose shape does not fit the bounty's data is outside its limits.
        Err(e @ ScoreError::Mismatch(_)) => {
            return unscorable(Unscorable::OverLimits, e.to_string());
        }
    };
    let made = receipt::make(&scored, sid, data_hash, model.weights_hash, None);
    let score = scored.score.0;
    if !post(made.receipt)? {
        return Ok(Some(confirmed));
    }
    Ok(Some(Outcome::Scored {
        submission,
        bounty,
        score,
    }))
}
