//! CSV with a label column, with or without a header, plain or gzip.
//!
//! Features that are all whole numbers in 0..=255 are stored as U8 with
//! `Input-Max` (the largest value seen); anything else as F32. A ragged row,
//! a non-numeric cell or a label that is not a class index is refused with
//! its line number, and nothing is produced.

use std::collections::BTreeMap;

use bounties::spec::Task;

use crate::error::DatasetError;
use crate::format::{Dataset, Tensor, key, task_name};
use crate::gz::maybe_gunzip;

/// Which column holds the label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// The first column.
    First,
    /// The last column.
    Last,
    /// A 0-based column index.
    Index(usize),
    /// A column named in the header.
    Name(String),
}

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// The label column.
    pub label: LabelColumn,
    /// Whether the first row is a header; `None` decides from the row (a
    /// non-numeric cell means a header).
    pub header: Option<bool>,
    /// Classification (integer labels) or regression (real targets).
    pub task: Task,
    /// Metadata: name, licence, source.
    pub name: String,
    /// The data's licence.
    pub licence: String,
    /// Where the data came from.
    pub source: String,
}

fn number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Load CSV bytes (plain or gzip); `origin` names the file in errors.
pub fn load_csv(bytes: &[u8], origin: &str, opts: &CsvOptions) -> Result<Dataset, DatasetError> {
    if opts.task == Task::LanguageModel {
        return Err(DatasetError::Options(
            "CSV files hold classification or regression data".into(),
        ));
    }
    let text = maybe_gunzip(bytes, origin)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(&text[..]);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        let detail = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("row has {len} cells, earlier rows have {expected_len}")
            }
            _ => e.to_string(),
        };
        DatasetError::Csv {
            origin: origin.to_owned(),
            line,
            detail,
        }
    };
    let mut rows = reader.records();
    let Some(first) = rows.next() else {
        return Err(DatasetError::Csv {
            origin: origin.to_owned(),
            line: 1,
            detail: "the file has no rows".into(),
        });
    };
    let first = first.map_err(csv_err)?;
    let has_header = opts
        .header
        .unwrap_or_else(|| first.iter().any(|c| number(c).is_none()));
    let width = first.len();
    let label = match &opts.label {
        LabelColumn::First => 0,
        LabelColumn::Last => width - 1,
        LabelColumn::Index(i) => *i,
        LabelColumn::Name(n) => {
            if !has_header {
                return Err(DatasetError::Options(format!(
                    "label column {n:?} named, but {origin} has no header"
                )));
            }
            first.iter().position(|c| c.trim() == n).ok_or_else(|| {
                DatasetError::Options(format!("{origin}: no column named {n:?} in the header"))
            })?
        }
    };
    if width < 2 || label >= width {
        return Err(DatasetError::Options(format!(
            "{origin}: label column {label} of {width} columns leaves no features"
        )));
    }
    let mut features: Vec<f64> = Vec::new();
    let mut labels: Vec<f64> = Vec::new();
    let records = std::iter::once(Ok(first))
        .filter(|_| !has_header)
        .chain(rows);
    for record in records {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        for (col, cell) in record.iter().enumerate() {
            let v = number(cell).ok_or_else(|| DatasetError::Csv {
                origin: origin.to_owned(),
                line,
                detail: format!("column {} is {cell:?}, not a finite number", col + 1),
            })?;
            if col == label {
                if opts.task == Task::Classification && (v < 0.0 || v.fract() != 0.0 || v > 1e6) {
                    return Err(DatasetError::Csv {
                        origin: origin.to_owned(),
                        line,
                        detail: format!(
                            "label {cell:?} is not a class index (a whole number from 0)"
                        ),
                    });
                }
                labels.push(v);
            } else {
                features.push(v);
            }
        }
    }
    let n = labels.len() as u64;
    if n == 0 {
        return Err(DatasetError::Csv {
            origin: origin.to_owned(),
            line: 1,
            detail: "no data rows".into(),
        });
    }
    let shape = vec![n, (width - 1) as u64];
    let mut meta = BTreeMap::from([
        (key::NAME.to_owned(), opts.name.clone()),
        (key::TASK.to_owned(), task_name(opts.task).to_owned()),
        (key::LICENSE.to_owned(), opts.licence.clone()),
        (key::SOURCE.to_owned(), opts.source.clone()),
    ]);
    let bytes_like = features
        .iter()
        .all(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v));
    let inputs = if bytes_like {
        let max = features.iter().fold(1.0f64, |m, &v| m.max(v));
        meta.insert(key::INPUT_MAX.to_owned(), (max as u8).to_string());
        Tensor::u8(shape, features.iter().map(|&v| v as u8).collect())
    } else {
        let values: Vec<f32> = features.iter().map(|&v| v as f32).collect();
        Tensor::f32(shape, &values)
    };
    let targets = match opts.task {
        Task::Classification => {
            let classes = labels.iter().fold(0.0f64, |m, &v| m.max(v)) as u64 + 1;
            meta.insert(key::CLASSES.to_owned(), classes.to_string());
            Tensor::i64(
                vec![n],
                &labels.iter().map(|&v| v as i64).collect::<Vec<_>>(),
            )
        }
        _ => Tensor::f32(
            vec![n],
            &labels.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        ),
    };
    let dataset = Dataset {
        meta,
        inputs,
        targets,
    };
    dataset
        .check()
        .map_err(|d| DatasetError::invalid(origin, d))?;
    Ok(dataset)
}
