//! Importing a pretrained BERT-family model (a Hugging Face folder:
//! `config.json`, `model.safetensors`, `tokenizer.json`) as a licensed model
//! file of the `bert` family: the `Architecture` tag from the config, the
//! tokenizer's SHA-256, the licence tags, and a fresh classification head.
//!
//! Everything read is checked as untrusted: the config must describe what
//! the family computes (absolute positions, erf GELU, eps 1e-12), the
//! tokenizer must be the WordPiece pipeline the project implements with the
//! config's vocabulary, and the weights must be exactly the encoder's
//! tensors (names with or without a `bert.` prefix; `embeddings.position_ids`
//! and, for mean pooling, the pooler are dropped; anything else is refused).

use std::collections::BTreeMap;
use std::path::Path;

use bounties::Hash32;
use bounties::arch::{
    ARCHITECTURE_TAG, ArchError, Architecture, BertSpec, Pooling, Spec, TOKENIZER_TAG, TensorSpec,
};
use bounties::encoding::sha256;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use datasets::wordpiece::WordPiece;
use serde::Deserialize;

/// Why a pretrained model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` is malformed or describes something else.
    #[error("config.json: {0}")]
    Config(String),
    /// The tokenizer is malformed or unsupported.
    #[error("tokenizer.json: {0}")]
    Tokenizer(String),
    /// The weights file is malformed or holds other tensors.
    #[error("model.safetensors: {0}")]
    Weights(String),
}

/// What the imported file says besides its weights.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Classes of the fresh head.
    pub classes: u32,
    /// How the head reads the sequence.
    pub pool: Pooling,
    /// Licence tags: `License`, `Commercial-Use`, `Derivation`, and a `Source`.
    pub tags: BTreeMap<String, String>,
}

/// An imported model file.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its architecture.
    pub arch: Architecture,
    /// The tokenizer file's SHA-256.
    pub tokenizer: Hash32,
    /// The weights hash.
    pub weights_hash: Hash32,
}

/// The fields of a Hugging Face BERT `config.json` the family depends on.
#[derive(Deserialize)]
struct Config {
    model_type: String,
    vocab_size: u32,
    max_position_embeddings: u32,
    type_vocab_size: u32,
    num_hidden_layers: u32,
    hidden_size: u32,
    num_attention_heads: u32,
    intermediate_size: u32,
    hidden_act: String,
    layer_norm_eps: f64,
    #[serde(default = "absolute")]
    position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".into()
}

/// The folder's three files, read.
pub fn import_dir(dir: &Path, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| ImportError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    import_bert(
        &read("config.json")?,
        &read("model.safetensors")?,
        &read("tokenizer.json")?,
        opts,
    )
}

/// Import from the three files' bytes.
pub fn import_bert(
    config: &[u8],
    weights: &[u8],
    tokenizer: &[u8],
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let spec = spec_from_config(config, opts)?;
    let arch = Architecture::Bert(spec.clone());
    let wordpiece = WordPiece::from_json(tokenizer, "tokenizer.json")
        .map_err(|e| ImportError::Tokenizer(e.to_string()))?;
    if wordpiece.vocab_size() != spec.vocab as usize {
        return Err(ImportError::Tokenizer(format!(
            "{} tokens, the config's vocab_size is {}",
            wordpiece.vocab_size(),
            spec.vocab
        )));
    }
    let file = TensorFile::parse(weights).map_err(|e| ImportError::Weights(e.to_string()))?;
    let encoder = spec.encoder_tensors();
    let mut wanted: BTreeMap<&str, &TensorSpec> =
        encoder.iter().map(|t| (t.name.as_str(), t)).collect();
    let head = spec.head_tensors();
    for t in head.iter().filter(|t| t.name.starts_with("pooler.")) {
        wanted.insert(&t.name, t);
    }
    let mut found: BTreeMap<String, &[u8]> = BTreeMap::new();
    for info in &file.tensors {
        let name = info.name.strip_prefix("bert.").unwrap_or(&info.name);
        let dropped = name == "embeddings.position_ids"
            || (spec.pool == Pooling::Mean && name.starts_with("pooler."));
        if dropped {
            continue;
        }
        let want = wanted.get(name).ok_or_else(|| {
            ImportError::Weights(format!(
                "tensor {:?} is not part of {arch} (only the encoder's tensors are imported)",
                info.name
            ))
        })?;
        if info.dtype != Dtype::F32 || info.shape != want.shape {
            return Err(ImportError::Weights(format!(
                "tensor {:?} is {} {:?}, the architecture needs F32 {:?}",
                info.name, info.dtype, info.shape, want.shape
            )));
        }
        let data = file.data(info);
        if data
            .chunks_exact(4)
            .any(|b| !f32::from_le_bytes(b.try_into().expect("4")).is_finite())
        {
            return Err(ImportError::Weights(format!(
                "tensor {:?} has a NaN or infinite value",
                info.name
            )));
        }
        if found.insert(name.to_owned(), data).is_some() {
            return Err(ImportError::Weights(format!(
                "tensor {name:?} appears with and without the bert. prefix"
            )));
        }
    }
    if let Some(missing) = wanted.keys().find(|n| !found.contains_key(**n)) {
        return Err(ImportError::Weights(format!(
            "tensor {missing:?} is missing"
        )));
    }
    // The fresh head is zeros: every class equally likely until trained, and
    // no seed to agree on.
    let zeros: Vec<(String, Vec<u64>, Vec<u8>)> = head
        .iter()
        .filter(|t| t.name.starts_with("classifier."))
        .map(|t| {
            (
                t.name.clone(),
                t.shape.clone(),
                vec![0u8; t.elements() as usize * 4],
            )
        })
        .collect();
    let mut tensors: Vec<TensorData<'_>> = found
        .iter()
        .map(|(name, data)| TensorData {
            name,
            dtype: Dtype::F32,
            shape: wanted[name.as_str()].shape.clone(),
            data,
        })
        .collect();
    tensors.extend(zeros.iter().map(|(name, shape, data)| TensorData {
        name,
        dtype: Dtype::F32,
        shape: shape.clone(),
        data,
    }));
    let tokenizer_hash = sha256(tokenizer);
    let mut meta = opts.tags.clone();
    meta.insert(ARCHITECTURE_TAG.into(), arch.to_string());
    meta.insert(TOKENIZER_TAG.into(), tokenizer_hash.to_hex());
    let bytes =
        tensorfile::write(&meta, &tensors).map_err(|e| ImportError::Weights(e.to_string()))?;
    let weights_hash = TensorFile::parse(&bytes)
        .map_err(|e| ImportError::Weights(e.to_string()))?
        .weights_hash();
    Ok(Imported {
        bytes,
        arch,
        tokenizer: tokenizer_hash,
        weights_hash,
    })
}

/// The spec a config describes, or why the family cannot compute it.
fn spec_from_config(config: &[u8], opts: &ImportOptions) -> Result<BertSpec, ImportError> {
    let c: Config = serde_json::from_slice(config)
        .map_err(|e| ImportError::Config(format!("not a BERT config: {e}")))?;
    let refuse = |what: String| Err(ImportError::Config(what));
    if c.model_type != "bert" {
        return refuse(format!("model_type {:?}, not \"bert\"", c.model_type));
    }
    if c.hidden_act != "gelu" {
        return refuse(format!(
            "hidden_act {:?}: the bert family computes \"gelu\" (erf)",
            c.hidden_act
        ));
    }
    if c.position_embedding_type != "absolute" {
        return refuse(format!(
            "position_embedding_type {:?}: the bert family has absolute positions",
            c.position_embedding_type
        ));
    }
    if c.layer_norm_eps as f32 != bounties::arch::BERT_LAYER_NORM_EPS {
        return refuse(format!(
            "layer_norm_eps {}: the bert family's is 1e-12",
            c.layer_norm_eps
        ));
    }
    // The spec string, parsed: the family's own checks of every dimension.
    let rest = format!(
        "vocab={},positions={},types={},layers={},width={},heads={},ffn={},classes={},pool={}",
        c.vocab_size,
        c.max_position_embeddings,
        c.type_vocab_size,
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.intermediate_size,
        opts.classes,
        match opts.pool {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    );
    let syntax = || ArchError::Syntax {
        got: format!("bert:{rest}"),
    };
    BertSpec::parse(&rest, &syntax).map_err(|e| ImportError::Config(e.to_string()))
}
