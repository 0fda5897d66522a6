//! The miner's candle models and the evaluator's kernels agree on the same weights
//! (the bert's padded batches included), and every parameter of the candle
//! models receives a gradient.

use std::collections::BTreeMap;

use bounties::arch::Architecture;
use candle_core::{DType, Device, Tensor};
use datasets::bundled::{self, DEFAULT_SEED};
use evaluator::kernels::argmax;
use evaluator::model::{Limits, Model};
use miner::model::{NO_TOKEN, Params, Trainable, log_softmax};

/// Largest |a − b| over the largest |b|: the relative error of a whole tensor.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    let scale = b.iter().fold(0f32, |m, y| m.max(y.abs()));
    diff / scale.max(f32::MIN_POSITIVE)
}

fn agreement(a: &[f32], b: &[f32], classes: usize) -> f64 {
    let rows = a.len() / classes;
    let same = a
        .chunks(classes)
        .zip(b.chunks(classes))
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    same as f64 / rows as f64
}

fn both(arch: &str, seed: &str) -> (Params, Model) {
    let arch: Architecture = arch.parse().unwrap();
    let params = Params::init(&arch, seed, &Device::Cpu).unwrap();
    let bytes = params.to_file(&BTreeMap::new()).unwrap();
    (
        params,
        Model::from_bytes(&bytes, Limits::default()).unwrap(),
    )
}

#[test]
fn mlp_logits_match_candle() {
    let digits = bundled::load("digits").unwrap();
    let mnist = bundled::split("mnist", DEFAULT_SEED).unwrap().hidden;
    let cancer = bundled::split("breast-cancer", DEFAULT_SEED).unwrap();
    for (arch, data) in [
        ("mlp:64,128,10", &digits),
        ("mlp:784,256,128,10", &mnist),
        ("mlp:30,64,2+standardize", &cancer.hidden),
    ] {
        let (params, mut model) = both(arch, "parity");
        let n = data.examples() as usize;
        let x = data.inputs_f32();
        let width = x.len() / n;
        if arch.ends_with("+standardize") {
            // Statistics of the training part, applied to the hidden one.
            params
                .standardize_from(&cancer.train.inputs_f32(), width)
                .unwrap();
            let bytes = params.to_file(&BTreeMap::new()).unwrap();
            model = Model::from_bytes(&bytes, Limits::default()).unwrap();
        }
        let classes = data.classes().unwrap() as usize;
        let ours = model.forward_mlp(&x, n, 2).unwrap();
        let theirs = params
            .forward(&Tensor::from_vec(x, (n, width), &Device::Cpu).unwrap())
            .unwrap();
        let theirs: Vec<f32> = theirs.flatten_all().unwrap().to_vec1().unwrap();
        let err = relative_error(&ours, &theirs);
        assert!(err <= 1e-4, "{arch}: relative error {err}");
        let agree = agreement(&ours, &theirs, classes);
        assert!(agree >= 0.999, "{arch}: classes agree on {agree}");
    }
}

#[test]
fn gpt_logits_match_candle() {
    let text = bundled::split("shakespeare", DEFAULT_SEED).unwrap().hidden;
    let (b, t) = (6usize, 64usize);
    let ids = &text.inputs.token_ids().unwrap()[..b * t];
    let (params, model) = both(
        "gpt:vocab=96,context=64,layers=2,width=64,heads=4",
        "parity",
    );
    let ours = model.forward_gpt(ids, t, 2).unwrap();
    let idt = Tensor::from_vec(ids.to_vec(), (b, t), &Device::Cpu).unwrap();
    let theirs: Vec<f32> = params
        .forward(&idt)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let err = relative_error(&ours, &theirs);
    assert!(err <= 1e-4, "gpt: relative error {err}");
    assert!(agreement(&ours, &theirs, 96) >= 0.999);
}

/// Three sequences of different lengths (16, 5, 9) in one padded batch.
fn bert_batch() -> (Vec<Vec<u32>>, Tensor) {
    let seqs: Vec<Vec<u32>> = [16usize, 5, 9]
        .iter()
        .enumerate()
        .map(|(s, &len)| {
            (0..len as u32)
                .map(|i| (i * 7 + s as u32 * 3) % 50)
                .collect()
        })
        .collect();
    let mut ids = Vec::new();
    for seq in &seqs {
        ids.extend(seq.iter().copied());
        ids.resize(ids.len() + 16 - seq.len(), NO_TOKEN);
    }
    let batch = Tensor::from_vec(ids, (3, 16), &Device::Cpu).unwrap();
    (seqs, batch)
}

const SMALL_BERT: &str =
    "bert:vocab=50,positions=16,types=2,layers=2,width=32,heads=4,ffn=64,classes=3,pool=mean";

#[test]
fn bert_logits_match_candle_with_padding_masked() {
    let (seqs, batch) = bert_batch();
    for arch in [
        SMALL_BERT.to_owned(),
        SMALL_BERT.replace("pool=mean", "pool=cls"),
    ] {
        let (params, model) = both(&arch, "parity");
        let views: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let ours = model.forward_bert(&views, 2).unwrap();
        // Candle reads the padded batch; the evaluator each sequence alone.
        let theirs: Vec<f32> = params
            .forward(&batch)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let err = relative_error(&ours, &theirs);
        assert!(err <= 1e-4, "{arch}: relative error {err}");
        // The same logits, bit for bit, on any thread count.
        assert_eq!(model.forward_bert(&views, 1).unwrap(), ours);
    }
}

#[test]
fn every_parameter_receives_a_gradient() {
    for (arch, input) in [
        (
            "mlp:8,16,4",
            Tensor::from_vec(
                (0..40).map(|i| (i % 7) as f32 / 7.0).collect::<Vec<f32>>(),
                (5, 8),
                &Device::Cpu,
            )
            .unwrap(),
        ),
        (
            "gpt:vocab=11,context=8,layers=2,width=16,heads=2",
            Tensor::from_vec(
                (0..16u32).map(|i| i % 11).collect::<Vec<_>>(),
                (2, 8),
                &Device::Cpu,
            )
            .unwrap(),
        ),
        (SMALL_BERT, bert_batch().1),
        (
            "bert:vocab=50,positions=16,types=2,layers=2,width=32,heads=4,ffn=64,classes=3,pool=cls",
            bert_batch().1,
        ),
    ] {
        let (params, _) = both(arch, "grad");
        let out = params.forward(&input).unwrap();
        let classes = *out.dims().last().unwrap();
        let flat = out.reshape(((), classes)).unwrap();
        let rows = flat.dims()[0];
        let targets = Tensor::from_vec(
            (0..rows as u32)
                .map(|i| i % classes as u32)
                .collect::<Vec<_>>(),
            rows,
            &Device::Cpu,
        )
        .unwrap();
        let logp = log_softmax(&flat).unwrap();
        let loss = logp
            .gather(&targets.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .neg()
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in params.names().into_iter().zip(params.vars()) {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{arch}: {name} has no gradient"));
            let norm = g
                .to_dtype(DType::F32)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "{arch}: {name} has a zero gradient");
        }
    }
}

#[test]
fn a_frozen_encoder_gives_gradients_to_the_head_alone() {
    let (mut params, _) = both(SMALL_BERT, "grad");
    params.set_trainable(Trainable::Head).unwrap();
    assert_eq!(params.names(), ["classifier.bias", "classifier.weight"]);
    let logits = params.forward(&bert_batch().1).unwrap();
    let grads = logits.sum_all().unwrap().backward().unwrap();
    // The same tensors, all of them: only the head's have gradients (the
    // encoder's entered the forward pass detached).
    params.set_trainable(Trainable::All).unwrap();
    for (name, var) in params.names().into_iter().zip(params.vars()) {
        let head = name.starts_with("classifier.");
        assert_eq!(grads.get(var.as_tensor()).is_some(), head, "{name}");
    }
    let mlp = both("mlp:4,2", "x").0;
    assert!(mlp.clone().set_trainable(Trainable::Head).is_err());
}
