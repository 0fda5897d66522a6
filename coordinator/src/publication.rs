//! The front end's check of a `PublishModel`, which the state machine cannot
//! make because it sees no bytes: the file is stored here, its signer
//! uploaded it, it is a whole model (not an adapter) of a known architecture,
//! and its weights hash is the one claimed. A file's verdict is kept, so a
//! flood of publications naming one large file reads it once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bounties::arch::lora::ADAPTER_TAG;
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::message::Publication;
use bounties::tensorfile::TensorFile;
use bounties::{AccountId, Hash32};
use futures_util::StreamExt;

use crate::artifacts::{ArtifactError, ArtifactStore};

/// Why a publication was refused before it reached the log.
#[derive(Debug, thiserror::Error)]
pub enum PublicationError {
    /// The file is not stored here, or not uploaded by the signer.
    #[error("upload the model file {file} (signed by {signer}) before publishing it")]
    NotUploaded {
        /// The file named.
        file: Hash32,
        /// The publisher.
        signer: AccountId,
    },
    /// The file is not a whole model.
    #[error("file {file} cannot be published: {why}")]
    NotAModel {
        /// The file named.
        file: Hash32,
        /// Why.
        why: String,
    },
    /// Its weights are not the ones claimed.
    #[error("file {file} holds weights {computed}, not the {claimed} the publication claims")]
    WeightsMismatch {
        /// The file named.
        file: Hash32,
        /// What it holds.
        computed: Hash32,
        /// What was claimed.
        claimed: Hash32,
    },
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
}

/// How many files' verdicts are kept.
const VERDICTS_MAX: usize = 1024;

/// Files already read: their weights hash, or why they are not a model.
#[derive(Debug, Default)]
pub struct Verdicts(Mutex<BTreeMap<Hash32, Result<Hash32, String>>>);

impl Verdicts {
    /// Check `p`, signed by `signer`, against the stored bytes.
    pub async fn check(
        &self,
        artifacts: &dyn ArtifactStore,
        signer: AccountId,
        p: &Publication,
    ) -> Result<(), PublicationError> {
        let file = p.file_hash;
        if !artifacts.owners(file).await?.contains(&signer) {
            return Err(PublicationError::NotUploaded { file, signer });
        }
        let known = self.0.lock().expect("lock").get(&file).cloned();
        let verdict = match known {
            Some(v) => v,
            None => {
                let Some(artifact) = artifacts.read(file).await? else {
                    return Err(PublicationError::NotUploaded { file, signer });
                };
                let mut bytes = Vec::with_capacity(artifact.size.min(1 << 30) as usize);
                let mut body = artifact.body;
                while let Some(chunk) = body.next().await {
                    bytes.extend_from_slice(&chunk.map_err(ArtifactError::Io)?);
                }
                let v = tokio::task::spawn_blocking(move || identity(&bytes))
                    .await
                    .map_err(ArtifactError::Worker)?;
                let mut kept = self.0.lock().expect("lock");
                if kept.len() >= VERDICTS_MAX {
                    kept.pop_first();
                }
                kept.insert(file, v.clone());
                v
            }
        };
        match verdict {
            Err(why) => Err(PublicationError::NotAModel { file, why }),
            Ok(computed) if computed != p.weights_hash => Err(PublicationError::WeightsMismatch {
                file,
                computed,
                claimed: p.weights_hash,
            }),
            Ok(_) => Ok(()),
        }
    }
}

/// A whole model file's weights hash, or why it is not one.
fn identity(bytes: &[u8]) -> Result<Hash32, String> {
    let file = TensorFile::parse(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    if file.metadata.contains_key(ADAPTER_TAG) {
        return Err("it is a LoRA adapter; only whole models are published".into());
    }
    let tag = file
        .metadata
        .get(ARCHITECTURE_TAG)
        .ok_or_else(|| format!("it has no {ARCHITECTURE_TAG} tag"))?;
    let arch: Architecture = tag
        .parse()
        .map_err(|e| format!("{ARCHITECTURE_TAG}: {e}"))?;
    arch.check_tensors(&file.tensors)
        .map_err(|e| format!("it does not match {arch}: {e}"))?;
    Ok(file.weights_hash())
}
