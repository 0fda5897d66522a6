//! Training for a bounty: fetch its spec, its training set and its base model
//! from a coordinator (every download checked against the hash the bounty
//! committed to), check a model against its limits, and the licence tags a
//! submitted file carries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bounties::arch::lora::LoraSpec;
use bounties::arch::{Architecture, BertSpec};
use bounties::spec::{CommercialUse, Derivation};
use bounties::state::records::BountyStatus;
use bounties::{AccountId, BountyId, BountySpec, Hash32};
use bounties_client::{Client, ClientError};

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
    let bounty = client.bounty(id)?.bounty;
    Ok(((*bounty.spec).clone(), bounty.status))
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
            let file = client.model(&w)?.file_hash;
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
            "the bounty asks for the {} family, not {arch}",
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

/// Check a LoRA adapter against a bounty's adapter limits (a bounty
/// without them takes whole models only).
pub fn check_adapter(
    lora: &LoraSpec,
    base: &BertSpec,
    spec: &BountySpec,
) -> Result<(), BountyError> {
    let Some(limits) = spec.architecture.adapters else {
        return Err(BountyError::Refused(
            "the bounty takes whole models only, not LoRA adapters (train with --train all or head)"
                .into(),
        ));
    };
    if lora.rank > limits.max_rank {
        return Err(BountyError::Refused(format!(
            "rank {} is over the bounty's limit of {}",
            lora.rank, limits.max_rank
        )));
    }
    let n = lora.trainable_parameters(base);
    if n > limits.max_trainable_parameters {
        return Err(BountyError::Refused(format!(
            "{lora} trains {n} parameters; the bounty allows an adapter at most {}",
            limits.max_trainable_parameters
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
