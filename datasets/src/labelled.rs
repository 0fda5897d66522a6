//! Labelled texts for text classification: a TSV or CSV file (plain or
//! gzip) with a header naming a text column and a label column.
//!
//! Every row must have the header's number of cells, a text that is not
//! empty after trimming, and a label; labels become class ids in the order
//! of the given class names (or, without any, the sorted distinct labels,
//! so that two files with the same labels agree). A malformed row, an
//! unknown label or a file with no rows is refused with its line, and
//! nothing is produced. [`tokenise`] turns them into a dataset file with
//! the bounty's tokenizer, each text cut to the bounty's sequence length.

use std::collections::{BTreeMap, BTreeSet};

use bounties::encoding::sha256;

use crate::error::DatasetError;
use crate::format::{Dataset, Tensor, key};
use crate::gz::maybe_gunzip;
use crate::text::utf8;
use crate::wordpiece::WordPiece;

/// The most bytes one text may have (a snippet, a review: not a book).
pub const TEXT_BYTES_MAX: usize = 64 * 1024;

/// How to read a labelled-text file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledOptions {
    /// The cell separator: `b'\t'` for TSV, `b','` for CSV.
    pub delimiter: u8,
    /// The header name of the text column.
    pub text_column: String,
    /// The header name of the label column.
    pub label_column: String,
    /// The classes, in id order; empty: the sorted distinct labels.
    pub classes: Vec<String>,
}

impl LabelledOptions {
    /// `text` and `label` columns, the separator from the file name
    /// (`.csv` or `.csv.gz`: comma; anything else: tab).
    pub fn for_file(name: &str) -> LabelledOptions {
        let csv = name.ends_with(".csv") || name.ends_with(".csv.gz");
        LabelledOptions {
            delimiter: if csv { b',' } else { b'\t' },
            text_column: "text".into(),
            label_column: "label".into(),
            classes: Vec::new(),
        }
    }
}

/// Texts with class ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledTexts {
    /// The texts, in file order.
    pub texts: Vec<String>,
    /// Each text's class id.
    pub labels: Vec<u32>,
    /// The class names, by id.
    pub classes: Vec<String>,
}

/// The shortest sequence length a text dataset may have: `[CLS]`, one
/// token, `[SEP]`.
pub const SEQUENCE_LENGTH_MIN: usize = 3;

/// Where a text dataset comes from and under which licence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The dataset's name.
    pub name: String,
    /// The data's licence.
    pub license: String,
    /// Where it came from.
    pub source: String,
}

/// Labelled texts as a dataset file (classification of texts): each text
/// `[CLS] tokens [SEP]` by `tokenizer` (whose file's bytes are
/// `tokenizer_file`, hashed into the metadata), its tokens cut so that the
/// whole is at most `sequence_length`, and `[PAD]` to the end of the row.
pub fn tokenise(
    texts: &LabelledTexts,
    tokenizer: &WordPiece,
    tokenizer_file: &[u8],
    sequence_length: usize,
    provenance: &Provenance,
) -> Result<Dataset, DatasetError> {
    let origin = &provenance.name;
    if !(SEQUENCE_LENGTH_MIN..=usize::from(u16::MAX)).contains(&sequence_length) {
        return Err(DatasetError::Options(format!(
            "sequence length {sequence_length} is outside {SEQUENCE_LENGTH_MIN}..=65535"
        )));
    }
    if tokenizer.vocab_size() > 1 << 16 {
        return Err(DatasetError::invalid(
            origin,
            format!(
                "the tokenizer has {} tokens; text datasets hold U16 ids",
                tokenizer.vocab_size()
            ),
        ));
    }
    let pad = tokenizer.pad_id() as u16;
    let mut ids = Vec::with_capacity(texts.texts.len() * sequence_length);
    for text in &texts.texts {
        let row = tokenizer.encode(text, sequence_length);
        ids.extend(row.iter().map(|&id| id as u16));
        ids.resize(ids.len() + sequence_length - row.len(), pad);
    }
    let n = texts.texts.len() as u64;
    let meta: BTreeMap<String, String> = [
        (key::NAME, provenance.name.clone()),
        (key::TASK, "classification".to_owned()),
        (key::LICENSE, provenance.license.clone()),
        (key::SOURCE, provenance.source.clone()),
        (key::CLASSES, texts.classes.len().to_string()),
        (key::TOKENIZER, sha256(tokenizer_file).to_hex()),
        (key::PAD_ID, pad.to_string()),
        (key::SEQUENCE_LENGTH, sequence_length.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let labels: Vec<i64> = texts.labels.iter().map(|&l| i64::from(l)).collect();
    let dataset = Dataset {
        meta,
        inputs: Tensor::tokens(vec![n, sequence_length as u64], &ids, 1 << 16),
        targets: Tensor::i64(vec![n], &labels),
    };
    dataset
        .check()
        .map_err(|detail| DatasetError::invalid(origin, detail))?;
    Ok(dataset)
}

/// Read a labelled-text file; `origin` names it in errors.
pub fn load_labelled(
    bytes: &[u8],
    origin: &str,
    opts: &LabelledOptions,
) -> Result<LabelledTexts, DatasetError> {
    let raw = maybe_gunzip(bytes, origin)?;
    let text = utf8(&raw, origin)?;
    let at = |line: u64, detail: String| DatasetError::Csv {
        origin: origin.to_owned(),
        line,
        detail,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(true)
        .flexible(false)
        // TSV texts keep their quotes as written; CSV cells may be quoted.
        .quoting(opts.delimiter != b'\t')
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        let detail = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("row has {len} cells, the header has {expected_len}"),
            _ => e.to_string(),
        };
        at(line, detail)
    };
    let header = reader.headers().map_err(csv_err)?.clone();
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            at(
                1,
                format!(
                    "no {name:?} column (the header has {})",
                    header
                        .iter()
                        .map(|h| format!("{h:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    };
    let (text_at, label_at) = (column(&opts.text_column)?, column(&opts.label_column)?);
    let mut rows: Vec<(String, String)> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let text = record[text_at].trim();
        let label = record[label_at].trim();
        if text.is_empty() {
            return Err(at(line, "the text is empty".into()));
        }
        if text.len() > TEXT_BYTES_MAX {
            return Err(at(
                line,
                format!(
                    "the text has {} bytes, more than {TEXT_BYTES_MAX}",
                    text.len()
                ),
            ));
        }
        if label.is_empty() {
            return Err(at(line, "the label is empty".into()));
        }
        rows.push((text.to_owned(), label.to_owned()));
    }
    if rows.is_empty() {
        return Err(at(1, "no rows after the header".into()));
    }
    let classes: Vec<String> = if opts.classes.is_empty() {
        let distinct: BTreeSet<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
        distinct.into_iter().map(str::to_owned).collect()
    } else {
        opts.classes.clone()
    };
    let mut labels = Vec::with_capacity(rows.len());
    for (i, (_, label)) in rows.iter().enumerate() {
        let id = classes.iter().position(|c| c == label).ok_or_else(|| {
            at(
                i as u64 + 2,
                format!("label {label:?} is not one of the classes {classes:?}"),
            )
        })?;
        labels.push(id as u32);
    }
    Ok(LabelledTexts {
        texts: rows.into_iter().map(|(t, _)| t).collect(),
        labels,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsv() -> LabelledOptions {
        LabelledOptions::for_file("x.tsv")
    }

    #[test]
    fn rows_become_texts_and_class_ids() {
        let file =
            b"label\ttext\npos\tA warm, funny film.\nneg\tDull and \"long\".\npos\t  Lovely.  \n";
        let got = load_labelled(file, "x.tsv", &tsv()).unwrap();
        assert_eq!(got.classes, ["neg", "pos"]);
        assert_eq!(got.labels, [1, 0, 1]);
        assert_eq!(
            got.texts,
            ["A warm, funny film.", "Dull and \"long\".", "Lovely."]
        );
        // Given classes fix the ids, and the columns may come in any order.
        let opts = LabelledOptions {
            classes: vec!["pos".into(), "neg".into()],
            ..LabelledOptions::for_file("x.csv")
        };
        let got = load_labelled(
            b"text,label\n\"Good, really\",pos\nBad,neg\n",
            "x.csv",
            &opts,
        )
        .unwrap();
        assert_eq!(
            (got.labels, got.texts),
            (vec![0, 1], vec!["Good, really".into(), "Bad".into()])
        );
    }

    #[test]
    fn malformed_files_are_refused_with_their_line() {
        let cases: [(&[u8], &str); 7] = [
            (
                b"label\ttext\npos\tfine\nneg\n",
                "line 3: row has 1 cells, the header has 2",
            ),
            (
                b"label\ttext\npos\tfine\nneg\t   \n",
                "line 3: the text is empty",
            ),
            (b"label\ttext\n\tno label\n", "line 2: the label is empty"),
            (b"label\tbody\npos\tfine\n", "no \"text\" column"),
            (b"label\ttext\n", "no rows after the header"),
            (
                b"label\ttext\npos\tfine\nmeh\tso so\n",
                "line 3: label \"meh\" is not one of",
            ),
            (b"label\ttext\npos\t\xff\xfe\n", "not valid UTF-8"),
        ];
        let opts = LabelledOptions {
            classes: vec!["neg".into(), "pos".into()],
            ..tsv()
        };
        for (file, want) in cases {
            let e = load_labelled(file, "bad.tsv", &opts)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("bad.tsv: ") && e.contains(want),
                "{e:?} lacks {want:?}"
            );
        }
        let long = format!("label\ttext\npos\t{}\n", "a".repeat(TEXT_BYTES_MAX + 1));
        let e = load_labelled(long.as_bytes(), "long.tsv", &tsv()).unwrap_err();
        assert!(e.to_string().contains("more than 65536"), "{e}");
    }
}
