//! The `bounty` binary: keys, clear one-line errors, and spec files refused
//! before anything is uploaded.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bounty");

fn bounty(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BOUNTY_KEY")
        .env("BOUNTY_COORDINATOR", "http://127.0.0.1:9")
        .output()
        .unwrap()
}

#[test]
fn keys_are_made_private_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("me.key");
    let key_s = key.to_str().unwrap();
    let made = bounty(&["--json", "keys", "new", "--out", key_s]);
    assert!(made.status.success());
    let v: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shown = bounty(&["--key", key_s, "keys", "show"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        v["account"].as_str().unwrap()
    );
    // Never overwrite a key.
    let again = bounty(&["keys", "new", "--out", key_s]);
    assert!(!again.status.success());
}

#[test]
fn failures_are_one_clear_line_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    assert!(
        bounty(&["keys", "new", "--out", key.to_str().unwrap()])
            .status
            .success()
    );
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "title = \"x\"\ndataset = \"digits\"\ndeadline = \"soon\"\n",
    )
    .unwrap();
    // No deadline in the file: the flag gives it (the command then goes on to
    // the coordinator, which is not there), and without the flag it is refused.
    let undated = dir.path().join("undated.toml");
    std::fs::write(&undated, "title = \"x\"\ndataset = \"digits\"\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["balance"], "needs your key"),
        (
            vec![
                "--key",
                key.to_str().unwrap(),
                "open",
                undated.to_str().unwrap(),
            ],
            "has no deadline: add `deadline",
        ),
        (
            vec![
                "--key",
                key.to_str().unwrap(),
                "--coordinator",
                "http://127.0.0.1:9",
                "open",
                undated.to_str().unwrap(),
                "--deadline",
                "30s",
            ],
            "cannot reach the coordinator",
        ),
        (
            vec![
                "--key",
                key.to_str().unwrap(),
                "open",
                spec.to_str().unwrap(),
            ],
            "deadline",
        ),
        (vec!["list"], "cannot reach the coordinator"),
        (
            vec!["lookup", "not-a-hash-or-file"],
            "neither a weights hash",
        ),
        (
            vec!["dataset", "inspect", "no-such-dataset"],
            "no-such-dataset",
        ),
    ];
    for (args, want) in cases {
        let out = bounty(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
    }
}

#[test]
fn a_dataset_packs_into_train_and_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bounty(&[
        "--json",
        "dataset",
        "pack",
        "digits",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let train =
        datasets::Dataset::read_file(std::path::Path::new(files[0]["file"].as_str().unwrap()))
            .unwrap();
    let hidden =
        datasets::Dataset::read_file(std::path::Path::new(files[1]["file"].as_str().unwrap()))
            .unwrap();
    assert_eq!(train.examples() + hidden.examples(), 1797);
}

#[test]
fn labelled_texts_pack_with_a_tokenizer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tokenizer = root.join("target/models/all-minilm-l6-v2/tokenizer.json");
    assert!(
        tokenizer.exists(),
        "run `python3 scripts/fetch-minilm.py` (scripts/test.sh does)"
    );
    let fixture = root.join("datasets/tests/fixtures/sentiment.tsv");
    let dir = tempfile::tempdir().unwrap();
    let pack = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "dataset",
            "pack",
            fixture.to_str().unwrap(),
            "--texts",
            tokenizer.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        bounty(&args)
    };
    let out = pack(&["--sequence-length", "16"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts: Vec<datasets::Dataset> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            datasets::Dataset::read_file(std::path::Path::new(f["file"].as_str().unwrap())).unwrap()
        })
        .collect();
    assert_eq!(parts.iter().map(|d| d.examples()).sum::<u64>(), 32);
    assert!(
        parts
            .iter()
            .all(|d| d.inputs.shape[1] == 16 && d.sequences().is_some())
    );
    let out = pack(&["--whole"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = datasets::Dataset::read_file(&dir.path().join("sentiment.safetensors")).unwrap();
    assert_eq!((whole.examples(), whole.inputs.shape[1]), (32, 128));
    // Not a tokenizer, and a sequence too short for [CLS] and [SEP].
    let out = bounty(&[
        "dataset",
        "pack",
        fixture.to_str().unwrap(),
        "--texts",
        fixture.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tokenizer.json"));
    let out = pack(&["--sequence-length", "2"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sequence length 2 is outside 3..=65535")
    );
}

#[test]
fn every_example_spec_resolves_into_a_valid_bounty() {
    use bounty_cli::spec_file::{Datasets, SpecFile};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/specs");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file =
            SpecFile::parse(&text, &dir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let source = match &file.datasets {
            Datasets::Split { source, .. } => {
                assert!(
                    datasets::bundled::NAMES.contains(&source.as_str()),
                    "{source}"
                );
                source.clone()
            }
            // Packed text datasets (fetched data, not committed).
            Datasets::Files { train, .. } => {
                assert!(train.starts_with(&dir), "{}", train.display());
                path.file_stem().unwrap().to_string_lossy().into_owned()
            }
        };
        let h = |b: u8| bounties::Hash32([b; 32]);
        let spec = file
            .resolve(
                h(1),
                h(2),
                100,
                1_800_000_000_000,
                file.base.as_ref().map(|_| h(3)),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen.push((
            source.clone(),
            spec.payout.clone(),
            spec.quorum,
            spec.base_model.is_some(),
        ));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        ["digits", "mnist", "moby-dick", "sentiment", "shakespeare"]
    );
    use bounties::spec::PayoutRule;
    assert_eq!(seen[0].1, PayoutRule::WinnerTakeAll);
    assert_eq!((seen[1].1.clone(), seen[1].2), (PayoutRule::Improvement, 2));
    assert!(
        matches!(seen[2].1, PayoutRule::TopK { .. }) && seen[2].3,
        "moby-dick: top-k, fine-tuned"
    );
    // sentiment: a base model file, published under [base-licence] if need be,
    // that takes LoRA adapters.
    let text = std::fs::read_to_string(dir.join("sentiment.toml")).unwrap();
    let file = SpecFile::parse(&text, &dir).unwrap();
    assert!(
        matches!(&file.base, Some(bounty_cli::spec_file::Base::File(p)) if p.ends_with("minilm-base.safetensors"))
    );
    assert_eq!(file.base_licence.as_ref().unwrap().name, "Apache-2.0");
    let spec = file
        .resolve(
            bounties::Hash32([1; 32]),
            bounties::Hash32([2; 32]),
            2_008,
            1_800_000_000_000,
            Some(bounties::Hash32([3; 32])),
        )
        .unwrap();
    assert_eq!(spec.architecture.family, bounties::arch::Family::Bert);
    assert_eq!(spec.architecture.adapters.unwrap().max_rank, 16);
}
