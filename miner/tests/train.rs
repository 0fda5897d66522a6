//! Training is reproducible, resumes exactly, and refuses data that does not fit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use bounties::arch::Architecture;
use candle_core::Device;
use datasets::Dataset;
use datasets::bundled::{self, DEFAULT_SEED};
use miner::model::Params;
use miner::train::{Event, Stop, TrainConfig, TrainError, check_fit, train};

fn digits() -> Dataset {
    bundled::split("digits", DEFAULT_SEED).unwrap().train
}

fn cfg() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        lr: 2e-3,
        batch: 32,
        validation_bps: 1_000,
        patience: 0,
        ..TrainConfig::default()
    }
}

fn run(
    data: &Dataset,
    cfg: &TrainConfig,
    stop_after: Option<u64>,
    resume: Option<&[u8]>,
) -> (Vec<u8>, Stop, Option<Vec<u8>>) {
    let arch: Architecture = "mlp:64,32,10".parse().unwrap();
    let mut params = Params::init(&arch, &cfg.seed, &Device::Cpu).unwrap();
    let stop = AtomicBool::new(false);
    let outcome = train(&mut params, data, cfg, resume, &stop, &mut |e| {
        if let (Event::Step { step, .. }, Some(n)) = (e, stop_after)
            && *step == n
        {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    (
        params.to_file(&BTreeMap::new()).unwrap(),
        outcome.stop,
        outcome.checkpoint,
    )
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let data = digits();
    let (a, ..) = run(&data, &cfg(), None, None);
    let (b, ..) = run(&data, &cfg(), None, None);
    assert_eq!(a, b);
    let (c, ..) = run(
        &data,
        &TrainConfig {
            seed: "other".into(),
            ..cfg()
        },
        None,
        None,
    );
    assert_ne!(a, c);
}

#[test]
fn an_interrupted_run_resumes_exactly() {
    let data = digits();
    let (whole, stop, _) = run(&data, &cfg(), None, None);
    assert_eq!(stop, Stop::Finished);
    // Stop mid-epoch (41 batches an epoch), then resume from the checkpoint.
    let (_, stop, checkpoint) = run(&data, &cfg(), Some(57), None);
    assert_eq!(stop, Stop::Interrupted);
    let (resumed, stop, _) = run(&data, &cfg(), None, Some(&checkpoint.unwrap()));
    assert_eq!(stop, Stop::Finished);
    assert_eq!(resumed, whole, "resumed training must give the same model");
}

#[test]
fn data_that_does_not_fit_is_refused_before_training() {
    let data = digits();
    let text = bundled::split("shakespeare", DEFAULT_SEED).unwrap().hidden;
    for (arch, d, expected) in [
        (
            "mlp:32,10",
            &data,
            "takes 32 inputs; the dataset has 64 features",
        ),
        ("mlp:64,5", &data, "has 5 outputs; the dataset needs 10"),
        (
            "gpt:vocab=96,context=64,layers=1,width=16,heads=2",
            &data,
            "cannot learn a Classification",
        ),
        (
            "gpt:vocab=50,context=64,layers=1,width=16,heads=2",
            &text,
            "vocabulary of 50",
        ),
        (
            "gpt:vocab=96,context=16,layers=1,width=16,heads=2",
            &text,
            "exceed",
        ),
    ] {
        let err: TrainError = check_fit(&arch.parse().unwrap(), d).unwrap_err();
        assert!(err.to_string().contains(expected), "{arch}: {err}");
    }
}
