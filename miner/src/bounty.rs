//! Training for a bounty: fetch its spec, its training set and its base model
//! from a coordinator (every download checked against the hash the bounty
//! committed to), check a model against its limits, and the licence tags a
//! submitted file carries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bounties::arch::Architecture;
use bounties::client::{Client, ClientError};
use bounties::spec::{CommercialUse, Derivation};
use bounties::state::records::BountyStatus;
use bounties::{AccountId, BountyId, BountySpec, Hash32};
use serde_json::Value;

/// Why a bounty's materials could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BountyError {
    /// The coordinator.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The bounty cannot take this.
    #[error("{0}")]
    Refused(String),
    /// A local file.
    #[error("{0}")]
    Io(String),
}

/// What a miner needs from a bounty.
#[derive(Clone, Debug)]
pub struct Materials {
    /// The bounty.
    pub id: BountyId,
    /// The chain.
    pub chain_id: String,
    /// Its spec.
    pub spec: BountySpec,
    /// The training set, downloaded and checked.
    pub train: PathBuf,
    /// The base model file, downloaded and checked (and its weights hash).
    pub base: Option<(PathBuf, Hash32)>,
}

/// A bounty's spec and status from the coordinator.
pub fn fetch_spec(
    client: &Client,
    id: BountyId,
) -> Result<(BountySpec, BountyStatus), BountyError> {
    let v: Value = client.get(&format!("/v1/bounties/{id}"))?;
    let spec: BountySpec = serde_json::from_value(v["bounty"]["spec"].clone())
        .map_err(|e| BountyError::Refused(format!("bounty {id}: unexpected spec: {e}")))?;
    let status = match v["bounty"]["status"].as_str() {
        Some("open") => BountyStatus::Open,
        Some("scoring") => BountyStatus::Scoring,
        Some("closed") => BountyStatus::Closed,
        Some("cancelled") => BountyStatus::Cancelled,
        other => {
            return Err(BountyError::Refused(format!(
                "bounty {id}: unexpected status {other:?}"
            )));
        }
    };
    Ok((spec, status))
}

/// Fetch an open bounty's training set and base model into `cache`.
pub fn fetch(client: &Client, id: BountyId, cache: &Path) -> Result<Materials, BountyError> {
    let chain_id = client.info()?.chain_id;
    let (spec, status) = fetch_spec(client, id)?;
    if status != BountyStatus::Open {
        return Err(BountyError::Refused(format!(
            "bounty {id} is {}: it takes no more submissions",
            status.as_str()
        )));
    }
    let train = client.fetch_cached(None, &chain_id, &spec.train_dataset, cache)?;
    let base = match spec.base_model {
        None => None,
        Some(w) => {
            let m: Value = client.get(&format!("/v1/models/{w}"))?;
            let file: Hash32 = m["submission"]["file_hash"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    BountyError::Refused(format!("base model {w}: no file on the ledger"))
                })?;
            let path = client.fetch_cached(None, &chain_id, &file, cache)?;
            Some((path, w))
        }
    };
    Ok(Materials {
        id,
        chain_id,
        spec,
        train,
        base,
    })
}

/// Check an architecture against a bounty's limits.
pub fn check_limits(arch: &Architecture, spec: &BountySpec) -> Result<(), BountyError> {
    if arch.family() != spec.architecture.family {
        return Err(BountyError::Refused(format!(
            "the bounty asks for the {:?} family, not {arch}",
            spec.architecture.family
        )));
    }
    let n = arch.parameter_count();
    if n > spec.architecture.max_parameters {
        return Err(BountyError::Refused(format!(
            "{arch} has {n} parameters; the bounty allows at most {}",
            spec.architecture.max_parameters
        )));
    }
    Ok(())
}

fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The licence and lineage tags of a file submitted to this bounty.
pub fn licence_tags(m: &Materials, miner: AccountId) -> BTreeMap<String, String> {
    let t = &m.spec.licence;
    let derivation = match &t.derivation {
        Derivation::AllowedWithRevenueShare { share_bps } => {
            format!("allowed-with-revenue-share ({share_bps} bps)")
        }
        Derivation::AllowedWithCredit => "allowed-with-credit".into(),
        Derivation::NotAllowed => "not-allowed".into(),
    };
    let mut tags = BTreeMap::from([
        ("License".to_owned(), t.name.clone()),
        ("Commercial-Use".to_owned(), kebab(&t.commercial_use)),
        ("Derivation".to_owned(), derivation),
        ("Bounty".to_owned(), m.id.to_string()),
        ("Chain".to_owned(), m.chain_id.clone()),
        ("Miner".to_owned(), miner.to_hex()),
        ("Payment-Address".to_owned(), miner.to_hex()),
    ]);
    if t.commercial_use == CommercialUse::AllowedWithFee {
        tags.insert("License-Fee".into(), t.fee.to_string());
        tags.insert("Currency".into(), format!("{} base units", m.chain_id));
    }
    tags
}
