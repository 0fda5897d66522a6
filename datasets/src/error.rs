//! Every way a dataset can be refused, each naming the file and the place in it.

use bounties::tensorfile::TensorFileError;

/// Why a dataset could not be loaded, packed or read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be read or written.
    #[error("{origin}: {source}")]
    Io {
        /// The file.
        origin: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// A gzip stream ended early or is corrupt.
    #[error(
        "{origin}: corrupt or truncated gzip stream (after {offset} decompressed bytes): {detail}"
    )]
    Gzip {
        /// The file.
        origin: String,
        /// Bytes decompressed before the failure.
        offset: u64,
        /// What the decoder said.
        detail: String,
    },
    /// The data is larger than the loader accepts.
    #[error("{origin}: larger than {max_bytes} bytes when decompressed")]
    TooLarge {
        /// The file.
        origin: String,
        /// The cap.
        max_bytes: u64,
    },
    /// A CSV problem at a line.
    #[error("{origin}: line {line}: {detail}")]
    Csv {
        /// The file.
        origin: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// An IDX problem at a byte offset.
    #[error("{origin}: byte {offset}: {detail}")]
    Idx {
        /// The file.
        origin: String,
        /// Byte offset in the (decompressed) file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Text that is not UTF-8.
    #[error("{origin}: byte {offset}: not valid UTF-8")]
    Utf8 {
        /// The file.
        origin: String,
        /// Where the invalid bytes start.
        offset: u64,
    },
    /// A character the vocabulary lacks.
    #[error("{origin}: line {line}, byte {offset}: character {ch:?} is not in the vocabulary")]
    OutOfVocabulary {
        /// The file.
        origin: String,
        /// 1-based line.
        line: u64,
        /// Byte offset.
        offset: u64,
        /// The character.
        ch: char,
    },
    /// The safetensors container is malformed.
    #[error("{origin}: {source}")]
    TensorFile {
        /// The file.
        origin: String,
        /// The reader's reason.
        source: TensorFileError,
    },
    /// The file is a safetensors file but not a valid dataset.
    #[error("{origin}: not a valid dataset: {detail}")]
    Invalid {
        /// The file.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// A bundled dataset that does not exist (or is not installed).
    #[error("no bundled dataset {name:?}{hint}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// A hint.
        hint: String,
    },
    /// Options that cannot work.
    #[error("{0}")]
    Options(String),
}

impl DatasetError {
    pub(crate) fn invalid(origin: &str, detail: impl Into<String>) -> DatasetError {
        DatasetError::Invalid {
            origin: origin.to_owned(),
            detail: detail.into(),
        }
    }
}
