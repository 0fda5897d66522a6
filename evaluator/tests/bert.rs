//! The `bert` family in the evaluator: receipts of a text dataset are the
//! same bytes on any thread count and pinned, and models and datasets that
//! do not fit each other are refused with a reason.

use std::collections::BTreeMap;

use bounties::SubmissionId;
use bounties::arch::Architecture;
use bounties::spec::Metric;
use datasets::format::key;
use datasets::{Dataset, Tensor};
use evaluator::model::{Limits, Model};
use evaluator::receipt;
use evaluator::score;
use evaluator::synthetic;
use expect_test::expect;

const BERT: &str =
    "bert:vocab=120,positions=40,types=2,layers=2,width=32,heads=4,ffn=64,classes=3,pool=mean";

fn model(arch: &str) -> Model {
    let arch: Architecture = arch.parse().unwrap();
    Model::from_bytes(&synthetic::model_file(&arch, "bert"), Limits::default()).unwrap()
}

/// `n` texts of 3 to 40 ids below 120 (CLS 101 first, SEP 102 last), padded
/// with 0 to 40, in 3 classes.
fn texts(n: usize) -> Dataset {
    let width = 40usize;
    let mut ids = Vec::new();
    for i in 0..n {
        let len = 3 + (i * 7) % (width - 2);
        let mut row = vec![101u16];
        row.extend((1..len - 1).map(|j| ((i * 31 + j * 17) % 99 + 1) as u16));
        row.push(102);
        row.resize(width, 0);
        ids.extend(row);
    }
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let meta: BTreeMap<String, String> = [
        (key::NAME, "texts"),
        (key::TASK, "classification"),
        (key::LICENSE, "CC0-1.0"),
        (key::SOURCE, "evaluator/tests/bert.rs"),
        (key::CLASSES, "3"),
        (key::TOKENIZER, &"ab".repeat(32)),
        (key::PAD_ID, "0"),
        (key::SEQUENCE_LENGTH, "40"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let d = Dataset {
        meta,
        inputs: Tensor::tokens(vec![n as u64, width as u64], &ids, 1 << 16),
        targets: Tensor::i64(vec![n as u64], &labels),
    };
    d.check().unwrap();
    d
}

fn receipt_json(m: &Model, d: &Dataset, metric: Metric, threads: usize) -> String {
    let scored = score::score(m, d, metric, threads).unwrap();
    serde_json::to_string(&receipt::make(
        &scored,
        SubmissionId(7),
        d.id(),
        m.weights_hash,
        None,
    ))
    .unwrap()
}

#[test]
fn bert_receipts_are_the_same_bytes_for_any_thread_count_and_pinned() {
    let d = texts(50);
    for arch in [BERT.to_owned(), BERT.replace("pool=mean", "pool=cls")] {
        let m = model(&arch);
        for metric in [Metric::Accuracy, Metric::CrossEntropy] {
            let one = receipt_json(&m, &d, metric, 1);
            for threads in [2, 3, 8] {
                assert_eq!(
                    receipt_json(&m, &d, metric, threads),
                    one,
                    "{arch} {threads}"
                );
            }
        }
    }
    // The bits themselves: a change to any kernel the family uses (attention
    // without a mask, erf GELU, eps 1e-12 layer norm, pooling) shows here.
    let scored = score::score(&model(BERT), &d, Metric::CrossEntropy, 2).unwrap();
    let digest = bounties::encoding::example_scores_digest(&scored.per_example);
    expect!["score 1152021 digest a6dfaa15"].assert_eq(&format!(
        "score {} digest {}",
        scored.score.0,
        digest.short()
    ));
}

#[test]
fn texts_and_berts_that_do_not_fit_are_refused() {
    let d = texts(6);
    let digits = datasets::bundled::split("digits", datasets::bundled::DEFAULT_SEED)
        .unwrap()
        .hidden;
    let cases = [
        (
            "mlp on texts",
            "mlp:40,3",
            &d,
            "an mlp reads features, the dataset holds texts",
        ),
        (
            "bert on features",
            &BERT.replace("classes=3", "classes=10"),
            &digits,
            "a bert reads texts",
        ),
        (
            "other classes",
            &BERT.replace("classes=3", "classes=2"),
            &d,
            "the model has 2 classes, the dataset 3",
        ),
        (
            "short positions",
            &BERT.replace("positions=40", "positions=8"),
            &d,
            "sequence 1 has 10 tokens, the model reads 1..=8",
        ),
        (
            "small vocabulary",
            &BERT.replace("vocab=120", "vocab=100"),
            &d,
            "has token id 101, the model's vocabulary has 100",
        ),
    ];
    for (label, arch, data, expected) in cases {
        let err = score::score(&model(arch), data, Metric::Accuracy, 1).unwrap_err();
        assert!(err.to_string().contains(expected), "{label}: {err}");
    }
    let err = score::score(&model(BERT), &d, Metric::Mse, 1).unwrap_err();
    assert!(err.to_string().contains("MSE"), "{err}");
}

#[test]
fn malformed_text_datasets_are_refused() {
    let good = texts(4);
    let with = |k: &str, v: Option<&str>| {
        let mut d = good.clone();
        match v {
            Some(v) => d.meta.insert(k.to_owned(), v.to_owned()),
            None => d.meta.remove(k),
        };
        d.check().unwrap_err()
    };
    assert!(with(key::TOKENIZER, None).contains("Tokenizer"));
    assert!(with(key::TOKENIZER, Some("abc")).contains("not a SHA-256"));
    assert!(with(key::PAD_ID, None).contains("Pad-Id"));
    assert!(with(key::PAD_ID, Some("70000")).contains("Pad-Id"));
    assert!(with(key::SEQUENCE_LENGTH, Some("39")).contains("Sequence-Length"));
    // A row of padding only.
    let mut empty = good.clone();
    empty.inputs.data[..80].fill(0);
    assert!(
        empty
            .check()
            .unwrap_err()
            .contains("row 0 holds only Pad-Id 0")
    );
}
