//! Published bases and LoRA adapters at the front end: a publication is
//! taken only for a whole model its signer uploaded whose weights are the
//! ones claimed, and the file is then anyone's to read; an adapter upload is
//! held to its spec on its bert (no tensor for a module it does not target).

mod support;

use std::collections::BTreeMap;

use bounties::arch::lora::{ADAPTER_TAG, BASE_WEIGHTS_TAG, LoraSpec};
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::message::Publication;
use bounties::spec::{CommercialUse, Derivation, LicenceTerms};
use bounties::state::records::Origin;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use bounties::{Action, Hash32, Params};

const BERT: &str =
    "bert:vocab=50,positions=16,types=2,layers=2,width=8,heads=2,ffn=16,classes=2,pool=mean";

fn publication(file_hash: Hash32, weights_hash: Hash32) -> Action {
    Action::PublishModel(Box::new(Publication {
        file_hash,
        weights_hash,
        source: "a test base".into(),
        licence: LicenceTerms {
            name: "Apache-2.0".into(),
            commercial_use: CommercialUse::AllowedWithCredit,
            fee: bounties::Amount::ZERO,
            derivation: Derivation::AllowedWithRevenueShare { share_bps: 1_000 },
            duration_ms: None,
        },
    }))
}

/// An adapter file of `lora` on `base` (zero weights), with `extra` tensors.
fn adapter(lora: &str, base: &Hash32, extra: &[&str], arch: &str) -> Vec<u8> {
    let Architecture::Bert(spec) = BERT.parse().unwrap() else {
        unreachable!()
    };
    let lora = LoraSpec::from_tag(lora, &spec).unwrap();
    let mut shapes: Vec<(String, Vec<u64>)> = lora
        .tensors(&spec)
        .into_iter()
        .map(|t| (t.name, t.shape.clone()))
        .collect();
    shapes.extend(extra.iter().map(|n| (n.to_string(), vec![4, 8])));
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<u64>() as usize])
        .collect();
    let tensors: Vec<TensorData<'_>> = shapes
        .iter()
        .zip(&data)
        .map(|((name, shape), data)| TensorData {
            name,
            dtype: Dtype::F32,
            shape: shape.clone(),
            data,
        })
        .collect();
    let meta = BTreeMap::from([
        (ARCHITECTURE_TAG.to_owned(), arch.to_owned()),
        (ADAPTER_TAG.to_owned(), lora.to_string()),
        (BASE_WEIGHTS_TAG.to_owned(), base.to_hex()),
    ]);
    tensorfile::write(&meta, &tensors).unwrap()
}

#[test]
fn a_base_is_published_only_for_bytes_that_bear_it_out_and_is_then_public() {
    let s = support::serve(&["alice", "bob"], Params::default());
    let base = evaluator::synthetic::model_file(&BERT.parse().unwrap(), "base");
    let weights = TensorFile::parse(&base).unwrap().weights_hash();
    let file = s.upload("alice", "base", &base);
    let refused = |who: &str, action: Action| {
        let err = s.client.act(s.key(who), action).unwrap_err();
        err.code().map(str::to_owned).unwrap_or_default()
    };
    // Bob did not upload it; the weights claimed are not the file's; a file
    // that is not stored here; a dataset; an adapter.
    assert_eq!(refused("bob", publication(file, weights)), "not_uploaded");
    assert_eq!(
        refused("alice", publication(file, Hash32([1; 32]))),
        "weights_mismatch"
    );
    assert_eq!(
        refused("alice", publication(Hash32([2; 32]), weights)),
        "not_uploaded"
    );
    let (train, _) = support::digits();
    let dataset = s.upload("alice", "digits", &train);
    assert_eq!(
        refused("alice", publication(dataset, weights)),
        "not_a_model"
    );
    let a = adapter("lora:rank=2,alpha=4,targets=query", &weights, &[], BERT);
    let a_hash = s.upload("alice", "adapter", &a);
    assert_eq!(
        refused("alice", publication(a_hash, weights)),
        "not_a_model"
    );
    assert_eq!(s.node.state().head().seq, 0, "nothing reached the log");

    s.client
        .act(s.key("alice"), publication(file, weights))
        .unwrap();
    let page = s.client.model(&weights).unwrap();
    assert_eq!(page.file_hash, file);
    assert!(matches!(page.model.origin, Origin::Published { .. }));
    assert_eq!(page.model.miner, s.key("alice").account());
    // Anyone may read a published base, with no key at all.
    let dest = support::tmp_path(&s, "fetched");
    s.client.download(None, &s.chain_id, &file, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), base);
    // The same weights again, by anyone, are refused by the ledger.
    let copy = s.upload("bob", "base-again", &base);
    assert_eq!(
        refused("bob", publication(copy, weights)),
        "weights_claimed"
    );
}

#[test]
fn an_adapter_upload_holds_exactly_its_targets_tensors_on_a_bert() {
    let s = support::serve(&["alice"], Params::default());
    let base = Hash32([5; 32]);
    let lora = "lora:rank=2,alpha=4,targets=query+value";
    let upload = |bytes: &[u8]| {
        let path = support::tmp_path(&s, "adapter");
        std::fs::write(&path, bytes).unwrap();
        s.client.upload(s.key("alice"), &s.chain_id, &path)
    };
    upload(&adapter(lora, &base, &[], BERT)).unwrap();
    let refusal = |bytes: Vec<u8>| {
        let err = upload(&bytes).unwrap_err();
        assert_eq!(err.code(), Some("bad_artifact"), "{err}");
        err.to_string()
    };
    // A tensor for `key`, which the adapter does not target.
    let stray = "base_model.model.encoder.layer.0.attention.self.key.lora_A.weight";
    let why = refusal(adapter(lora, &base, &[stray], BERT));
    assert!(why.contains(stray), "{why}");
    // A spec that does not parse, or an adapter on a family LoRA does not apply to.
    let why = refusal(retag(
        &adapter(lora, &base, &[], BERT),
        "lora:rank=0,alpha=4,targets=query",
    ));
    assert!(why.contains("Adapter tag"), "{why}");
    let why = refusal(adapter(lora, &base, &[], "mlp:64,32,10"));
    assert!(why.contains("adapters apply to a bert"), "{why}");
}

/// An adapter file with another `Adapter` tag.
fn retag(bytes: &[u8], tag: &str) -> Vec<u8> {
    let file = TensorFile::parse(bytes).unwrap();
    let mut meta = file.metadata.clone();
    meta.insert(ADAPTER_TAG.into(), tag.into());
    let tensors: Vec<TensorData<'_>> = file
        .tensors
        .iter()
        .map(|t| TensorData {
            name: &t.name,
            dtype: t.dtype,
            shape: t.shape.clone(),
            data: file.data(t),
        })
        .collect();
    tensorfile::write(&meta, &tensors).unwrap()
}
