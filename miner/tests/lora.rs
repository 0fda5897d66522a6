//! LoRA adapters: the miner's candle forward (frozen `x·Wᵀ` beside
//! `s·(x·Aᵀ)·Bᵀ`) and the evaluator's merged weights agree; an adapter's
//! identity binds its base; adapters that do not fit are refused.

use std::collections::BTreeMap;

use bounties::arch::Architecture;
use bounties::arch::lora::{BASE_WEIGHTS_TAG, LoraSpec};
use bounties::spec::Task;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use candle_core::{Device, Tensor};
use evaluator::model::{AdapterError, AdapterLimits, Limits, Model, ModelError};
use miner::model::{NO_TOKEN, Params};
use miner::optim::AdamW;

const BERT: &str =
    "bert:vocab=50,positions=16,types=2,layers=2,width=32,heads=4,ffn=64,classes=3,pool=mean";

fn lora_spec(s: &str, arch: &Architecture) -> LoraSpec {
    let Architecture::Bert(b) = arch else {
        panic!("a bert")
    };
    LoraSpec::parse(s, b).unwrap()
}

fn batch() -> (Vec<Vec<u32>>, Tensor, Tensor) {
    let seqs: Vec<Vec<u32>> = [16usize, 5, 9, 12]
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
    let x = Tensor::from_vec(ids, (4, 16), &Device::Cpu).unwrap();
    let y = Tensor::from_vec(vec![0u32, 1, 2, 1], 4, &Device::Cpu).unwrap();
    (seqs, x, y)
}

/// A base file and an adapter trained a few steps on it (so `B` is not zero).
fn base_and_adapter(targets: &str) -> (Vec<u8>, Vec<u8>, Params) {
    let arch: Architecture = BERT.parse().unwrap();
    let base = Params::init(&arch, "base", &Device::Cpu).unwrap();
    let base_bytes = base.to_file(&BTreeMap::new()).unwrap();
    let base_hash = TensorFile::parse(&base_bytes).unwrap().weights_hash();
    let mut tuned = Params::from_file(&base_bytes, &Device::Cpu).unwrap();
    tuned.add_lora(lora_spec(targets, &arch), "lora").unwrap();
    let (_, x, y) = batch();
    let mut opt = AdamW::new(tuned.vars(), 1e-2, 0.0).unwrap();
    for _ in 0..3 {
        miner::train::step(&tuned, &mut opt, Task::Classification, &x, &y).unwrap();
    }
    let adapter = tuned.to_adapter_file(&BTreeMap::new(), base_hash).unwrap();
    (base_bytes, adapter, tuned)
}

fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / b.iter().fold(0f32, |m, y| m.max(y.abs()))
}

#[test]
fn merged_adapters_match_candle_and_only_adapters_and_head_train() {
    for targets in [
        "rank=4,alpha=8,targets=query+value",
        "rank=2,alpha=3,targets=query+key+value",
    ] {
        let (base, adapter, tuned) = base_and_adapter(targets);
        // Only the adapters and the head are trainable.
        assert!(
            tuned
                .names()
                .iter()
                .all(|n| n.contains(".lora_") || n.starts_with("classifier."))
        );
        let file = TensorFile::parse(&adapter).unwrap();
        assert!(
            file.tensors
                .iter()
                .all(|t| t.name.starts_with("base_model.model."))
        );
        let model =
            Model::from_adapter(&base, &adapter, Limits::default(), AdapterLimits::default())
                .unwrap();
        let (seqs, x, _) = batch();
        let views: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let ours = model.forward_bert(&views, 2).unwrap();
        let theirs: Vec<f32> = tuned
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let err = relative_error(&ours, &theirs);
        assert!(err <= 1e-4, "{targets}: relative error {err}");
        // The update is not nothing: the merged model differs from the base's.
        let plain = Model::from_bytes(&base, Limits::default()).unwrap();
        assert_ne!(plain.forward_bert(&views, 1).unwrap(), ours);
        // Identity: the adapter's tensors and the base's hash.
        assert_ne!(model.weights_hash, file.weights_hash());
        assert_ne!(model.weights_hash, plain.weights_hash);
    }
}

/// The adapter's bytes with its metadata and tensors edited.
fn edited(
    adapter: &[u8],
    meta: impl Fn(&mut BTreeMap<String, String>),
    tensors: impl Fn(&mut Vec<(String, Vec<u64>, Vec<u8>)>),
) -> Vec<u8> {
    let file = TensorFile::parse(adapter).unwrap();
    let mut m = file.metadata.clone();
    meta(&mut m);
    let mut ts: Vec<(String, Vec<u64>, Vec<u8>)> = file
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone(), file.data(t).to_vec()))
        .collect();
    tensors(&mut ts);
    let data: Vec<TensorData<'_>> = ts
        .iter()
        .map(|(n, s, b)| TensorData {
            name: n,
            dtype: Dtype::F32,
            shape: s.clone(),
            data: b,
        })
        .collect();
    tensorfile::write(&m, &data).unwrap()
}

#[test]
fn adapters_that_do_not_fit_are_refused() {
    let (base, adapter, _) = base_and_adapter("rank=4,alpha=8,targets=query+value");
    let load = |a: &[u8], limits: AdapterLimits| {
        Model::from_adapter(&base, a, Limits::default(), limits).unwrap_err()
    };
    let none = AdapterLimits::default();
    // Read alone, an adapter says it needs its base.
    let alone = Model::from_bytes(&adapter, Limits::default()).unwrap_err();
    assert_eq!(alone, ModelError::Adapter(AdapterError::NeedsBase));
    // Another base: the adapter names a different hash.
    let other = edited(
        &adapter,
        |m| {
            m.insert(BASE_WEIGHTS_TAG.into(), "00".repeat(32));
        },
        |_| {},
    );
    assert!(matches!(
        load(&other, none),
        ModelError::Adapter(AdapterError::OtherBase { .. })
    ));
    // Its architecture is not the base's.
    let arch = edited(
        &adapter,
        |m| {
            m.insert(
                "Architecture".into(),
                BERT.replace("classes=3", "classes=2"),
            );
        },
        |_| {},
    );
    assert!(matches!(
        load(&arch, none),
        ModelError::Adapter(AdapterError::OtherArchitecture { .. })
    ));
    // A tensor for a module it does not target, and a missing one.
    let extra = edited(
        &adapter,
        |_| {},
        |ts| {
            let mut t = ts
                .iter()
                .find(|t| t.0.contains("query.lora_A"))
                .unwrap()
                .clone();
            t.0 = t.0.replace("query", "dense");
            ts.push(t);
        },
    );
    assert!(matches!(load(&extra, none), ModelError::UnexpectedTensor(n) if n.contains("dense")));
    let missing = edited(
        &adapter,
        |_| {},
        |ts| ts.retain(|t| !t.0.contains("layer.1.attention.self.value.lora_B")),
    );
    assert!(matches!(load(&missing, none), ModelError::MissingTensor(_)));
    // No adapter tag, and a malformed one.
    let untagged = edited(
        &adapter,
        |m| {
            m.remove("Adapter");
        },
        |_| {},
    );
    assert!(matches!(
        load(&untagged, none),
        ModelError::Adapter(AdapterError::Spec(_))
    ));
    let bad = edited(
        &adapter,
        |m| {
            m.insert("Adapter".into(), "lora:rank=4,alpha=8,targets=dense".into());
        },
        |_| {},
    );
    assert!(matches!(
        load(&bad, none),
        ModelError::Adapter(AdapterError::Spec(_))
    ));
    // Over a bounty's limits (the receipt says: over limits, not malformed).
    let e = load(
        &adapter,
        AdapterLimits {
            max_rank: Some(2),
            max_trainable: None,
        },
    );
    assert_eq!(
        e,
        ModelError::Adapter(AdapterError::RankOverLimit { rank: 4, max: 2 })
    );
    assert_eq!(
        e.unscorable(),
        Some(bounties::message::Unscorable::OverLimits)
    );
    let e = load(
        &adapter,
        AdapterLimits {
            max_rank: None,
            max_trainable: Some(100),
        },
    );
    assert!(matches!(
        e,
        ModelError::Adapter(AdapterError::TooManyTrainable { .. })
    ));
    // A NaN in B.
    let nan = edited(
        &adapter,
        |_| {},
        |ts| {
            let t = ts.iter_mut().find(|t| t.0.contains("lora_B")).unwrap();
            t.2[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        },
    );
    assert!(matches!(load(&nan, none), ModelError::NonFinite { .. }));
}

#[test]
fn lora_dropout_acts_only_inside_a_training_step_and_is_reproducible() {
    let arch: Architecture = BERT.parse().unwrap();
    let base = Params::init(&arch, "base", &Device::Cpu)
        .unwrap()
        .to_file(&BTreeMap::new())
        .unwrap();
    let (_, x, y) = batch();
    let tuned = |p: f32, seed: &str| {
        let mut t = Params::from_file(&base, &Device::Cpu).unwrap();
        t.add_lora_with_dropout(
            lora_spec("rank=4,alpha=8,targets=query+value", &arch),
            seed,
            p,
        )
        .unwrap();
        let mut opt = AdamW::new(t.vars(), 1e-2, 0.0).unwrap();
        // A step with B still zero, then one where the dropped inputs count.
        for _ in 0..2 {
            miner::train::step(&t, &mut opt, Task::Classification, &x, &y).unwrap();
        }
        t
    };
    let values = |t: &Params| -> Vec<f32> {
        t.forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (plain, dropped) = (tuned(0.0, "s"), tuned(0.5, "s"));
    // The same seed gives the same bytes; dropout changes what was learnt.
    let again = tuned(0.5, "s");
    let file = |t: &Params| {
        t.to_adapter_file(&BTreeMap::new(), bounties::Hash32([1; 32]))
            .unwrap()
    };
    assert_eq!(file(&dropped), file(&again));
    assert_ne!(values(&dropped), values(&plain));
    assert_ne!(file(&dropped), file(&tuned(0.5, "other seed")));
    // Outside a step, the forward pass is deterministic: no mask.
    assert_eq!(values(&dropped), values(&dropped));
    // Inside one, the step's masks apply.
    dropped.set_train_step(Some(7));
    let inside = values(&dropped);
    dropped.set_train_step(None);
    assert_ne!(inside, values(&dropped));
    let meta = TensorFile::parse(&file(&dropped)).unwrap().metadata;
    assert!(
        meta["adapter_config"].contains("\"lora_dropout\":0.5"),
        "{}",
        meta["adapter_config"]
    );
    // Out of range.
    let mut t = Params::from_file(&base, &Device::Cpu).unwrap();
    let spec = lora_spec("rank=4,alpha=8,targets=query", &arch);
    assert!(t.add_lora_with_dropout(spec.clone(), "s", 1.0).is_err());
    assert!(t.add_lora_with_dropout(spec, "s", f32::NAN).is_err());
}
