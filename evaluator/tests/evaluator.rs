//! The evaluator's tests: determinism across threads, pinned receipt bits,
//! field-by-field verification, and hostile model files.

use std::collections::BTreeMap;

use bounties::arch::{Architecture, Family};
use bounties::keys::SecretKey;
use bounties::spec::Metric;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use bounties::{Score, SubmissionId};
use datasets::Dataset;
use datasets::bundled::{self, DEFAULT_SEED};
use evaluator::model::{Limits, Model, ModelError};
use evaluator::receipt::{self, Difference};
use evaluator::score::{self, ScoreError};
use evaluator::synthetic;
use expect_test::expect;

const MLP: &str = "mlp:64,32,10";
const GPT: &str = "gpt:vocab=96,context=64,layers=2,width=32,heads=4";

fn model(arch: &str, seed: &str) -> Model {
    let arch: Architecture = arch.parse().unwrap();
    Model::from_bytes(&synthetic::model_file(&arch, seed), Limits::default()).unwrap()
}

fn digits_hidden() -> Dataset {
    bundled::split("digits", DEFAULT_SEED).unwrap().hidden
}

fn shakespeare_sample(n: usize) -> Dataset {
    let hidden = bundled::split("shakespeare", DEFAULT_SEED).unwrap().hidden;
    hidden.select(&(0..n).collect::<Vec<_>>(), "sample")
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
fn receipts_are_the_same_bytes_for_any_thread_count() {
    let (mlp, gpt) = (model(MLP, "a"), model(GPT, "a"));
    let (digits, text) = (digits_hidden(), shakespeare_sample(24));
    for (m, d, metric) in [
        (&mlp, &digits, Metric::Accuracy),
        (&mlp, &digits, Metric::CrossEntropy),
        (&gpt, &text, Metric::CrossEntropy),
    ] {
        let one = receipt_json(m, d, metric, 1);
        for threads in [2, 3, 8] {
            assert_eq!(
                receipt_json(m, d, metric, threads),
                one,
                "{} with {threads} threads",
                m.arch
            );
        }
    }
}

#[test]
fn receipt_bits_are_pinned() {
    // Any change to kernels, rounding or hashing shows up here; if it is
    // intended, bump receipt::KERNELS_REVISION and update with UPDATE_EXPECT=1.
    let (mlp, gpt) = (model(MLP, "pinned"), model(GPT, "pinned"));
    let digits = digits_hidden();
    let text = shakespeare_sample(8);
    let mut out = String::new();
    for (m, d, metric) in [
        (&mlp, &digits, Metric::Accuracy),
        (&mlp, &digits, Metric::CrossEntropy),
        (&gpt, &text, Metric::CrossEntropy),
        (&gpt, &text, Metric::Accuracy),
    ] {
        let s = score::score(m, d, metric, 2).unwrap();
        let digest = bounties::encoding::example_scores_digest(&s.per_example);
        out += &format!(
            "{} {metric:?}: score {} digest {}\n",
            m.arch,
            s.score.0,
            digest.short()
        );
    }
    expect![[r#"
        mlp:64,32,10 Accuracy: score 116992 digest e18e27df
        mlp:64,32,10 CrossEntropy: score 2294179 digest 43cab138
        gpt:vocab=96,context=64,layers=2,width=32,heads=4 CrossEntropy: score 4694354 digest aeef2fb1
        gpt:vocab=96,context=64,layers=2,width=32,heads=4 Accuracy: score 11719 digest e765e9ff
    "#]].assert_eq(&out);
}

/// The score, per-example scores and digest of a scored receipt, to tamper with.
fn scored_parts(r: &mut bounties::Receipt) -> (&mut Score, &mut Vec<i64>, &mut bounties::Hash32) {
    match &mut r.verdict {
        bounties::message::Verdict::Scored {
            score,
            example_scores,
            example_digest,
            ..
        } => (score, example_scores, example_digest),
        bounties::message::Verdict::Unscorable(_) => panic!("a scored receipt"),
    }
}

#[test]
fn verify_names_the_part_that_differs() {
    let m = model(MLP, "v");
    let d = digits_hidden();
    let key = SecretKey::from_seed([5; 32]);
    let scored = score::score(&m, &d, Metric::Accuracy, 2).unwrap();
    let good = receipt::make(&scored, SubmissionId(1), d.id(), m.weights_hash, Some(&key));
    receipt::verify(&good, &scored, d.id(), m.weights_hash).unwrap();

    let mut example = good.clone();
    {
        let (_, scores, digest) = scored_parts(&mut example.receipt);
        scores[3] = Score::SCALE - scores[3];
        *digest = bounties::encoding::example_scores_digest(scores);
    }
    example.signature = Some(key.sign(b"irrelevant"));
    // A changed receipt no longer matches its signature.
    assert!(matches!(
        receipt::verify(&example, &scored, d.id(), m.weights_hash),
        Err(Difference::Signature(_))
    ));
    example.signature = None;
    example.evaluator = None;
    match receipt::verify(&example, &scored, d.id(), m.weights_hash) {
        Err(Difference::Example {
            index: 3,
            differing: 1,
            ..
        }) => {}
        other => panic!("expected example 3 to differ, got {other:?}"),
    }
    let mut digest = example.clone();
    *scored_parts(&mut digest.receipt).2 = bounties::Hash32::ZERO;
    assert_eq!(
        receipt::verify(&digest, &scored, d.id(), m.weights_hash),
        Err(Difference::Digest)
    );
    let mut s = good.clone();
    (s.evaluator, s.signature) = (None, None);
    let score = scored_parts(&mut s.receipt).0;
    *score = Score(score.0 + 1);
    assert!(matches!(
        receipt::verify(&s, &scored, d.id(), m.weights_hash),
        Err(Difference::Score { .. })
    ));
    assert!(matches!(
        receipt::verify(&good, &scored, bounties::Hash32::ZERO, m.weights_hash),
        Err(Difference::Dataset { .. })
    ));
    let other = model(MLP, "other");
    assert!(matches!(
        receipt::verify(&good, &scored, d.id(), other.weights_hash),
        Err(Difference::Model { .. })
    ));
}

#[test]
fn models_that_do_not_fit_the_dataset_are_refused() {
    let digits = digits_hidden();
    let text = shakespeare_sample(2);
    let cases: Vec<(&str, &str, &Dataset, Metric, &str)> = vec![
        (
            "too few inputs",
            "mlp:32,10",
            &digits,
            Metric::Accuracy,
            "takes 32 inputs, the dataset has 64",
        ),
        (
            "too few classes",
            "mlp:64,5",
            &digits,
            Metric::Accuracy,
            "has 5 outputs, the dataset needs 10",
        ),
        ("mse for classes", MLP, &digits, Metric::Mse, "does not fit"),
        (
            "gpt on digits",
            GPT,
            &digits,
            Metric::Accuracy,
            "cannot do Classification",
        ),
        (
            "mlp on text",
            MLP,
            &text,
            Metric::CrossEntropy,
            "cannot do LanguageModel",
        ),
        (
            "other vocabulary",
            "gpt:vocab=65,context=64,layers=1,width=16,heads=2",
            &text,
            Metric::CrossEntropy,
            "vocabulary is 65",
        ),
        (
            "short context",
            "gpt:vocab=96,context=32,layers=1,width=16,heads=2",
            &text,
            Metric::CrossEntropy,
            "exceed the model's context 32",
        ),
    ];
    for (label, arch, d, metric, expected) in cases {
        let err: ScoreError = score::score(&model(arch, "x"), d, metric, 1).unwrap_err();
        assert!(err.to_string().contains(expected), "{label}: {err}");
    }
}

/// A model file from raw tensors and an Architecture tag.
fn file(arch: Option<&str>, tensors: &[(&str, Dtype, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let meta: BTreeMap<String, String> = arch
        .map(|a| ("Architecture".to_owned(), a.to_owned()))
        .into_iter()
        .collect();
    let t: Vec<TensorData<'_>> = tensors
        .iter()
        .map(|(n, d, s, v)| TensorData {
            name: n,
            dtype: *d,
            shape: s.clone(),
            data: v,
        })
        .collect();
    tensorfile::write(&meta, &t).unwrap()
}

/// The tensors of a valid small model, to mutate.
fn valid(arch: &str) -> Vec<(String, Dtype, Vec<u64>, Vec<u8>)> {
    let bytes = synthetic::model_file(&arch.parse().unwrap(), "valid");
    let f = TensorFile::parse(&bytes).unwrap();
    f.tensors
        .iter()
        .map(|t| (t.name.clone(), t.dtype, t.shape.clone(), f.data(t).to_vec()))
        .collect()
}

fn mutated(
    arch: Option<&str>,
    change: impl Fn(&mut Vec<(String, Dtype, Vec<u64>, Vec<u8>)>),
) -> Vec<u8> {
    let mut t = valid("mlp:4,3,2");
    change(&mut t);
    let refs: Vec<(&str, Dtype, Vec<u64>, Vec<u8>)> = t
        .iter()
        .map(|(n, d, s, v)| (n.as_str(), *d, s.clone(), v.clone()))
        .collect();
    file(arch, &refs)
}

fn code(e: &ModelError) -> String {
    let debug = format!("{e:?}");
    let variant = debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned();
    match e {
        ModelError::File(inner) => format!(
            "File::{}",
            format!("{inner:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
        ),
        _ => variant,
    }
}

#[test]
fn hostile_model_files_are_refused_with_their_reason() {
    let arch = Some("mlp:4,3,2");
    let header = |h: &str, data: usize| {
        let mut v = (h.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(h.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    };
    let nan = f32::NAN.to_le_bytes();
    let inf = f32::INFINITY.to_le_bytes();
    let limits = Limits::default();
    let cases: Vec<(&str, Vec<u8>, Limits, &str)> = vec![
        ("empty", vec![], limits, "File::TooShort"),
        (
            "huge header length",
            {
                let mut v = u64::MAX.to_le_bytes().to_vec();
                v.push(b'{');
                v
            },
            limits,
            "File::HeaderSize",
        ),
        (
            "header not json",
            header("{{{{", 0),
            limits,
            "File::HeaderJson",
        ),
        (
            "duplicate tensor",
            header(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                4,
            ),
            limits,
            "File::DuplicateKey",
        ),
        (
            "path in a name",
            header(
                r#"{"../a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                4,
            ),
            limits,
            "File::BadName",
        ),
        (
            "control char in a name",
            header(
                r#"{"a\u0000":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                4,
            ),
            limits,
            "File::BadName",
        ),
        (
            "unknown dtype",
            header(
                r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#,
                4,
            ),
            limits,
            "File::UnknownDtype",
        ),
        (
            "offset past the end",
            header(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                4,
            ),
            limits,
            "File::BadOffsets",
        ),
        (
            "overlapping offsets",
            header(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12,
            ),
            limits,
            "File::BadOffsets",
        ),
        (
            "shape overflows",
            header(
                r#"{"a":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,4]}}"#,
                4,
            ),
            limits,
            "File::BadShape",
        ),
        (
            "no architecture tag",
            mutated(None, |_| {}),
            limits,
            "NoArchitecture",
        ),
        (
            "unparsable architecture",
            mutated(Some("resnet:50"), |_| {}),
            limits,
            "Architecture",
        ),
        (
            "heads do not divide width",
            mutated(
                Some("gpt:vocab=4,context=4,layers=1,width=6,heads=4"),
                |_| {},
            ),
            limits,
            "Architecture",
        ),
        (
            "wrong family for the bounty",
            mutated(arch, |_| {}),
            Limits {
                family: Some(Family::Gpt),
                max_parameters: None,
            },
            "WrongFamily",
        ),
        (
            "over the parameter limit",
            mutated(arch, |_| {}),
            Limits {
                family: None,
                max_parameters: Some(10),
            },
            "TooManyParameters",
        ),
        (
            "architecture with an extra layer",
            mutated(Some("mlp:4,3,2,2"), |_| {}),
            limits,
            "MissingTensor",
        ),
        (
            "missing bias",
            mutated(arch, |t| t.retain(|x| x.0 != "layers.1.bias")),
            limits,
            "MissingTensor",
        ),
        (
            "extra tensor",
            mutated(arch, |t| {
                t.push(("backdoor".into(), Dtype::F32, vec![1], vec![0; 4]))
            }),
            limits,
            "UnexpectedTensor",
        ),
        (
            "wrong dtype",
            mutated(arch, |t| {
                t[0].1 = Dtype::I32;
            }),
            limits,
            "WrongDtype",
        ),
        (
            "wrong shape",
            mutated(arch, |t| {
                let w = t.iter_mut().find(|x| x.0 == "layers.0.weight").unwrap();
                w.2 = vec![4, 3];
            }),
            limits,
            "WrongShape",
        ),
        (
            "NaN weight",
            mutated(arch, |t| {
                t[1].3[..4].copy_from_slice(&nan);
            }),
            limits,
            "NonFinite",
        ),
        (
            "infinite weight",
            mutated(arch, |t| {
                let n = t[2].3.len();
                t[2].3[n - 4..].copy_from_slice(&inf);
            }),
            limits,
            "NonFinite",
        ),
    ];
    assert!(cases.len() >= 20);
    for (label, bytes, limits, expected) in cases {
        match Model::from_bytes(&bytes, limits) {
            Ok(_) => panic!("{label}: accepted"),
            Err(e) => assert_eq!(code(&e), expected, "{label}: {e}"),
        }
    }
    // And the untouched file is accepted.
    Model::from_bytes(&mutated(arch, |_| {}), limits).unwrap();
}

/// A gpt over a vocabulary of more than 256 symbols reads U16 token ids:
/// the same receipt bits on 1 and 2 threads, and a loss near ln(300) for
/// random weights (every id reaches its embedding row).
#[test]
fn wide_vocabularies_score_from_u16_token_ids() {
    use datasets::text::{TextOptions, load_text};
    let symbols: String = (0x100u32..0x100 + 300).filter_map(char::from_u32).collect();
    let text: String = symbols.chars().cycle().take(3_001).collect();
    let opts = TextOptions {
        context: 8,
        vocabulary: symbols,
        name: "wide".into(),
        licence: "CC0-1.0".into(),
        source: "test".into(),
    };
    let data = load_text(text.as_bytes(), "wide.txt", &opts).unwrap();
    assert_eq!(data.inputs.dtype, Dtype::U16);
    let m = model("gpt:vocab=300,context=8,layers=1,width=16,heads=2", "wide");
    let one = score::score(&m, &data, Metric::CrossEntropy, 1).unwrap();
    let two = score::score(&m, &data, Metric::CrossEntropy, 2).unwrap();
    assert_eq!(one, two);
    assert_eq!(one.per_example.len(), 375);
    let nats = one.score.0 as f64 / 1e6;
    assert!((nats - 300f64.ln()).abs() < 1.0, "{nats} nats");
}
