//! The sponsor's bounty spec file: the protocol's `BountySpec` in TOML, with
//! friendlier inputs in place of hashes and absolute times.
//!
//! ```toml
//! dataset = "digits"          # a bundled name or a dataset file, split into train + hidden
//! # split-seed = "..."        # the split's seed (default: fresh and random, so the split stays secret)
//! # train-dataset = "train.safetensors"   # or give both parts as files
//! # hidden-dataset = "hidden.safetensors"
//! deadline = "10m"            # from now (s, m, h, d), or deadline-ms = absolute
//! # base-model = "winner-of:3"  # or a weights hash on the ledger, or "file:base.safetensors"
//! # [base-licence]             # a base file not on the ledger yet is published under these terms
//! # name = "Apache-2.0"        #   (as `[licence]`); base-source = "..." overrides its Source tag
//! # submission-deposit = "200"  # default: quorum × fee-per-receipt, the least allowed
//! ```
//! `hidden-examples` is filled in from the hidden set. Everything else is
//! exactly `BountySpec`'s keys (title, task, reward, ...).

use std::path::{Path, PathBuf};

use bounties::spec::LicenceTerms;
use bounties::{BountyId, BountySpec, Hash32};
use toml::{Table, Value};

/// Why a spec file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecFileError {
    /// Not TOML, or a key of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// A friendly key with a bad value.
    #[error("{key}: {reason}")]
    Key {
        /// Which.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The protocol's own checks.
    #[error("{0}")]
    Spec(String),
}

/// Where the datasets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datasets {
    /// One source split into train and hidden.
    Split {
        /// A bundled name or a file.
        source: String,
        /// The split's seed (`None`: pick a random one).
        seed: Option<String>,
    },
    /// Both parts as files.
    Files {
        /// The public training part.
        train: PathBuf,
        /// The hidden evaluation part.
        hidden: PathBuf,
    },
}

/// The model to fine-tune from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// The winning model of a closed bounty.
    WinnerOf(BountyId),
    /// A model on the ledger, by weights hash.
    Weights(Hash32),
    /// A whole model file: uploaded, and published unless it is on the ledger.
    File(PathBuf),
}

/// When the deadline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// This long after the coordinator's clock at opening.
    In(u64),
    /// At this time.
    At(u64),
}

/// A spec file read, its friendly inputs separated out.
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// The remaining keys: `BountySpec`'s.
    rest: Table,
    /// Where the datasets come from.
    pub datasets: Datasets,
    /// The deadline (`None` when the file has none: `bounty open --deadline` gives it).
    pub deadline: Option<Deadline>,
    /// The base model, if any.
    pub base: Option<Base>,
    /// The terms a base file is published under (`[base-licence]`).
    pub base_licence: Option<LicenceTerms>,
    /// Where a base file comes from (`base-source`; default: its `Source` tag).
    pub base_source: Option<String>,
}

/// Parse `10s`, `5m`, `2h`, `1d` (or a bare number of seconds) into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `winner-of:BOUNTY`, `file:PATH` (relative to `dir`) or a weights hash.
pub fn parse_base(b: &str, dir: &Path) -> Result<Base, SpecFileError> {
    if let Some(path) = b.strip_prefix("file:") {
        if path.trim().is_empty() {
            return Err(SpecFileError::Key {
                key: "base-model",
                reason: "file: needs a path".into(),
            });
        }
        return Ok(Base::File(dir.join(path)));
    }
    if let Some(id) = b.strip_prefix("winner-of:") {
        return Ok(Base::WinnerOf(BountyId(id.trim().parse().map_err(
            |_| SpecFileError::Key {
                key: "base-model",
                reason: format!("{id:?} is not a bounty number"),
            },
        )?)));
    }
    Ok(Base::Weights(b.parse().map_err(|_| {
        SpecFileError::Key {
            key: "base-model",
            reason:
                "expected \"winner-of:BOUNTY\", \"file:PATH\" or a model's weights hash (64 hex)"
                    .into(),
        }
    })?))
}

/// A deadline given as a duration from now.
pub fn parse_deadline(d: &str) -> Result<Deadline, SpecFileError> {
    parse_duration_ms(d)
        .map(Deadline::In)
        .ok_or_else(|| SpecFileError::Key {
            key: "deadline",
            reason: format!("{d:?} is not a duration like \"90s\", \"10m\", \"2h\" or \"1d\""),
        })
}

fn take_str(t: &mut Table, key: &'static str) -> Result<Option<String>, SpecFileError> {
    match t.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(SpecFileError::Key {
            key,
            reason: format!("expected a string, got {}", other.type_str()),
        }),
    }
}

impl SpecFile {
    /// Parse a spec file's text; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<SpecFile, SpecFileError> {
        let mut t: Table = text
            .parse()
            .map_err(|e: toml::de::Error| SpecFileError::Syntax(e.to_string()))?;
        let source = take_str(&mut t, "dataset")?;
        let seed = take_str(&mut t, "split-seed")?;
        let train = take_str(&mut t, "train-dataset")?;
        let hidden = take_str(&mut t, "hidden-dataset")?;
        let datasets = match (source, train, hidden) {
            (Some(source), None, None) => {
                // A relative file name is taken from the spec's directory; a bundled name stays.
                let candidate = dir.join(&source);
                let source = if candidate.is_file() {
                    candidate.display().to_string()
                } else {
                    source
                };
                Datasets::Split { source, seed }
            }
            (None, Some(train), Some(hidden)) => Datasets::Files {
                train: dir.join(train),
                hidden: dir.join(hidden),
            },
            _ => {
                return Err(SpecFileError::Key {
                    key: "dataset",
                    reason: "give either `dataset` (split into train and hidden) or both `train-dataset` and `hidden-dataset` files".into(),
                });
            }
        };
        let deadline = match (take_str(&mut t, "deadline")?, t.remove("deadline-ms")) {
            (None, None) => None,
            (Some(d), None) => Some(parse_deadline(&d)?),
            (None, Some(Value::Integer(ms))) if ms > 0 => Some(Deadline::At(ms as u64)),
            _ => {
                return Err(SpecFileError::Key {
                    key: "deadline",
                    reason: "give one of `deadline = \"10m\"` (from now) or `deadline-ms` (absolute, ms since the epoch, positive)".into(),
                });
            }
        };
        let base = take_str(&mut t, "base-model")?
            .map(|b| parse_base(&b, dir))
            .transpose()?;
        let base_source = take_str(&mut t, "base-source")?;
        let base_licence = t
            .remove("base-licence")
            .map(|v| {
                let terms: LicenceTerms =
                    v.try_into()
                        .map_err(|e: toml::de::Error| SpecFileError::Key {
                            key: "base-licence",
                            reason: e.to_string(),
                        })?;
                terms.check().map_err(|e| SpecFileError::Key {
                    key: "base-licence",
                    reason: e.to_string(),
                })?;
                Ok(terms)
            })
            .transpose()?;
        if (base_licence.is_some() || base_source.is_some()) && !matches!(base, Some(Base::File(_)))
        {
            return Err(SpecFileError::Key {
                key: "base-licence",
                reason: "base-licence and base-source are for a base-model = \"file:…\" to publish"
                    .into(),
            });
        }
        Ok(SpecFile {
            rest: t,
            datasets,
            deadline,
            base,
            base_licence,
            base_source,
        })
    }

    /// The protocol spec, once the datasets are uploaded and the rest
    /// resolved: `hidden_examples` is the hidden set's example count, and a
    /// missing `submission-deposit` is one quorum of receipt fees (the least allowed).
    pub fn resolve(
        &self,
        train: Hash32,
        hidden: Hash32,
        hidden_examples: u32,
        deadline_ms: u64,
        base: Option<Hash32>,
    ) -> Result<BountySpec, SpecFileError> {
        let mut t = self.rest.clone();
        t.insert("train-dataset".into(), Value::String(train.to_hex()));
        t.insert("hidden-dataset".into(), Value::String(hidden.to_hex()));
        t.insert(
            "hidden-examples".into(),
            Value::Integer(i64::from(hidden_examples)),
        );
        t.insert("deadline-ms".into(), Value::Integer(deadline_ms as i64));
        if let Some(b) = base {
            t.insert("base-model".into(), Value::String(b.to_hex()));
        }
        let default_deposit = !t.contains_key("submission-deposit");
        if default_deposit {
            t.insert("submission-deposit".into(), Value::String("0".into()));
        }
        let mut spec: BountySpec = t
            .try_into()
            .map_err(|e: toml::de::Error| SpecFileError::Syntax(e.to_string()))?;
        if default_deposit {
            spec.submission_deposit = bounties::Amount(
                spec.fee_per_receipt
                    .0
                    .saturating_mul(u128::from(spec.quorum)),
            );
        }
        spec.check()
            .map_err(|e| SpecFileError::Spec(e.to_string()))?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
title = "t"
description = "d"
task = "classification"
dataset = "digits"
deadline = "2m"
base-model = "winner-of:4"
reward = "1000"
evaluation-budget = "100"
fee-per-receipt = "10"
quorum = 1
max-submissions-per-miner = 2
[architecture]
family = "mlp"
max-parameters = 100000
[judging]
metric = "accuracy"
baseline = 100000
min-improvement = 0
[payout]
rule = "winner-take-all"
[licence]
name = "UDL-1.0"
commercial-use = "allowed-with-fee"
fee = "50"
derivation = { terms = "allowed-with-revenue-share", share-bps = 1000 }
[royalties]
contributors-bps = 7000
sponsor-bps = 3000
"#;

    #[test]
    fn friendly_keys_resolve_into_a_checked_spec() {
        let f = SpecFile::parse(SPEC, Path::new(".")).unwrap();
        assert_eq!(
            f.datasets,
            Datasets::Split {
                source: "digits".into(),
                seed: None
            }
        );
        assert_eq!(f.deadline, Some(Deadline::In(120_000)));
        assert_eq!(f.base, Some(Base::WinnerOf(BountyId(4))));
        let spec = f
            .resolve(
                Hash32([1; 32]),
                Hash32([2; 32]),
                100,
                5_000,
                Some(Hash32([3; 32])),
            )
            .unwrap();
        assert_eq!(spec.deadline_ms.0, 5_000);
        assert_eq!(spec.base_model, Some(Hash32([3; 32])));
    }

    #[test]
    fn bad_friendly_keys_are_named() {
        for (from, to, key) in [
            ("deadline = \"2m\"", "deadline = \"soon\"", "deadline"),
            ("dataset = \"digits\"", "", "dataset"),
            (
                "base-model = \"winner-of:4\"",
                "base-model = \"x\"",
                "base-model",
            ),
        ] {
            let text = SPEC.replace(from, to);
            let err = SpecFile::parse(&text, Path::new(".")).unwrap_err();
            assert!(err.to_string().starts_with(key), "{err}");
        }
        // Terms to publish a base are only for a base file.
        let text = format!(
            "{SPEC}[base-licence]\nname = \"MIT\"\ncommercial-use = \"allowed\"\nderivation = {{ terms = \"allowed-with-credit\" }}\n"
        );
        let err = SpecFile::parse(&text, Path::new(".")).unwrap_err();
        assert!(err.to_string().starts_with("base-licence"), "{err}");
        let text = text.replace("winner-of:4", "file:base.safetensors");
        let f = SpecFile::parse(&text, Path::new("specs")).unwrap();
        assert_eq!(
            f.base,
            Some(Base::File(Path::new("specs/base.safetensors").into()))
        );
        assert_eq!(f.base_licence.unwrap().name, "MIT");
        // Malformed terms are named before anything is uploaded.
        let bad = text.replace(
            "commercial-use = \"allowed\"",
            "commercial-use = \"allowed-with-fee\"",
        );
        let err = SpecFile::parse(&bad, Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("needs a positive fee"), "{err}");
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        assert_eq!(parse_duration_ms("5"), Some(5_000));
        assert_eq!(parse_duration_ms("5y"), None);
    }
}
