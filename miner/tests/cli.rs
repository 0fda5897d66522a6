//! The `miner` binary refuses bad input with one clear line before training.

use std::process::Command;

fn miner(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_miner"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_gets_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("miner-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(
        &corrupt,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
    )
    .unwrap();
    let gpt = dir.join("gpt.safetensors");
    let arch: bounties::arch::Architecture = "gpt:vocab=96,context=8,layers=1,width=8,heads=2"
        .parse()
        .unwrap();
    let params = miner::model::Params::init(&arch, "x", &candle_core::Device::Cpu).unwrap();
    std::fs::write(&gpt, params.to_file(&Default::default()).unwrap()).unwrap();
    let out = dir.join("m.safetensors");
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "mlp:32,10",
                "--out",
                out,
            ],
            "takes 32 inputs; the dataset has 64 features",
        ),
        (
            vec!["train", "--dataset", "imagenet", "--out", out],
            "no bundled dataset \"imagenet\"",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--train",
                "lora",
                "--out",
                out,
            ],
            "--train lora is for the bert family",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--train",
                "head",
                "--out",
                out,
            ],
            "training the head alone is for the bert family",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--base",
                corrupt.to_str().unwrap(),
                "--out",
                out,
            ],
            "is not an acceptable base model",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--base",
                gpt.to_str().unwrap(),
                "--out",
                out,
            ],
            "a Gpt model cannot learn a Classification dataset",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--out",
                "/nonexistent-dir/m.safetensors",
            ],
            "is not writable",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--validation",
                "0.9",
                "--out",
                out,
            ],
            "--validation must be between 0 and 0.5",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--train",
                "lora",
                "--lora-dropout",
                "1",
                "--out",
                out,
            ],
            "--lora-dropout must be at least 0 and below 1",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "mlp:64,x",
                "--out",
                out,
            ],
            "is not of the form",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "gpt",
                "--out",
                out,
            ],
            "this dataset has no default gpt widths",
        ),
        // Checked before the coordinator is asked anything (there is none here).
        (
            vec![
                "train",
                "--bounty",
                "1",
                "--coordinator",
                "http://127.0.0.1:9",
                "--validation",
                "0.9",
                "--out",
                out,
            ],
            "--validation must be between 0 and 0.5",
        ),
        (
            vec![
                "train",
                "--bounty",
                "1",
                "--coordinator",
                "http://127.0.0.1:9",
                "--arch",
                "mlp:64,x",
                "--out",
                out,
            ],
            "is not of the form",
        ),
    ];
    for (args, expected) in cases {
        let (ok, err) = miner(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: one line, got {err}"
        );
    }
    // A family alone takes the dataset's default widths.
    let (ok, err) = miner(&[
        "train",
        "--dataset",
        "digits",
        "--arch",
        "mlp",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        out,
    ]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(out).unwrap();
    let file = bounties::tensorfile::TensorFile::parse(&bytes).unwrap();
    assert_eq!(
        file.metadata
            .get(bounties::arch::ARCHITECTURE_TAG)
            .map(String::as_str),
        Some("mlp:64,256,10")
    );
    if !cfg!(feature = "cuda") {
        let (ok, err) = miner(&[
            "train",
            "--dataset",
            "digits",
            "--device",
            "cuda",
            "--out",
            out,
        ]);
        assert!(!ok && err.contains("built without CUDA"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tabular features on very different scales: by default the miner
/// standardises them (`+standardize`), and the evaluator scores the model
/// well on the hidden part; `--standardize off` keeps the plain mlp.
#[test]
fn tabular_inputs_are_standardised_by_default() {
    use bounties::arch::ARCHITECTURE_TAG;
    use datasets::bundled::{self, DEFAULT_SEED};
    use evaluator::model::{Limits, Model};

    let dir = std::env::temp_dir().join(format!("miner-standardize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hidden = bundled::split("breast-cancer", DEFAULT_SEED)
        .unwrap()
        .hidden;
    for (flag, arch) in [("auto", "mlp:30,64,2+standardize"), ("off", "mlp:30,64,2")] {
        let out = dir.join(format!("{flag}.safetensors"));
        let (ok, err) = miner(&[
            "train",
            "--dataset",
            "breast-cancer",
            "--arch",
            "mlp:30,64,2",
            "--standardize",
            flag,
            "--epochs",
            "60",
            "--threads",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let bytes = std::fs::read(&out).unwrap();
        let file = bounties::tensorfile::TensorFile::parse(&bytes).unwrap();
        assert_eq!(
            file.metadata.get(ARCHITECTURE_TAG).map(String::as_str),
            Some(arch)
        );
        if flag == "auto" {
            let model = Model::from_bytes(&bytes, Limits::default()).unwrap();
            let scored =
                evaluator::score::score(&model, &hidden, bounties::spec::Metric::Accuracy, 1)
                    .unwrap();
            assert!(
                scored.score.0 >= 900_000,
                "hidden accuracy {}",
                scored.score
            );
        }
    }
    let (ok, err) = miner(&[
        "train",
        "--dataset",
        "shakespeare",
        "--standardize",
        "on",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("mlp family"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
