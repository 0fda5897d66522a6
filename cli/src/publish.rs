//! A whole model file made into a [`Publication`]: read and checked (a known
//! architecture, exactly its tensors, not an adapter), its weights hash
//! computed, its source taken from the file's `Source` tag unless given.

use std::collections::BTreeMap;
use std::path::Path;

use bounties::Hash32;
use bounties::arch::lora::ADAPTER_TAG;
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::message::{Publication, SOURCE_BYTES_MAX};
use bounties::spec::LicenceTerms;
use bounties::tensorfile::TensorFile;

/// Why a file cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Reading it.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a whole model.
    #[error("{path} cannot be published: {reason}")]
    NotAModel {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// No source given and none in the file.
    #[error(
        "{path} has no Source tag: say where the model comes from with --source (at most {SOURCE_BYTES_MAX} bytes)"
    )]
    NoSource {
        /// The file.
        path: String,
    },
}

/// A whole model file, read and checked.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// Its SHA-256.
    pub file_hash: Hash32,
    /// Its weights hash.
    pub weights_hash: Hash32,
    /// Its architecture.
    pub arch: Architecture,
    /// Its metadata.
    pub tags: BTreeMap<String, String>,
}

impl ModelFile {
    /// Read `path` as a whole model.
    pub fn read(path: &Path) -> Result<ModelFile, PublishError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PublishError::Io {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let not = |reason: String| PublishError::NotAModel {
            path: shown.clone(),
            reason,
        };
        let file = TensorFile::parse(&bytes).map_err(|e| not(format!("not safetensors: {e}")))?;
        if file.metadata.contains_key(ADAPTER_TAG) {
            return Err(not(
                "it is a LoRA adapter; publish its base, and submit adapters to bounties".into(),
            ));
        }
        let arch: Architecture = file
            .metadata
            .get(ARCHITECTURE_TAG)
            .ok_or_else(|| not(format!("it has no {ARCHITECTURE_TAG} tag")))?
            .parse()
            .map_err(|e| not(format!("{ARCHITECTURE_TAG}: {e}")))?;
        arch.check_tensors(&file.tensors)
            .map_err(|e| not(format!("it does not match {arch}: {e}")))?;
        Ok(ModelFile {
            file_hash: bounties::encoding::sha256(&bytes),
            weights_hash: file.weights_hash(),
            arch,
            tags: file.metadata,
        })
    }

    /// The publication of this file under `licence`, with `source` or the
    /// file's own `Source` tag.
    pub fn publication(
        &self,
        path: &Path,
        source: Option<&str>,
        licence: LicenceTerms,
    ) -> Result<Publication, PublishError> {
        let source = source
            .or(self.tags.get("Source").map(String::as_str))
            .filter(|s| !s.trim().is_empty() && s.len() <= SOURCE_BYTES_MAX)
            .ok_or_else(|| PublishError::NoSource {
                path: path.display().to_string(),
            })?;
        Ok(Publication {
            file_hash: self.file_hash,
            weights_hash: self.weights_hash,
            source: source.to_owned(),
            licence,
        })
    }
}
