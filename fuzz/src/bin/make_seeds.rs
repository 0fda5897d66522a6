//! Writes the committed seed corpus (`fuzz/corpus/<target>/`): a few small,
//! valid inputs per target, so each fuzzer starts past the first checks.
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --bin make-seeds`.

use std::collections::BTreeMap;
use std::path::Path;

use bounties::auth::sign_request;
use bounties::encoding::{self, sha256};
use bounties::tensorfile::{Dtype, TensorData};
use bounties::*;
use bounties_fuzz::{fixture_chain, fixture_keys, fixture_spec, fixture_tokenizer_json, seed_name};

// Built with the targets' coverage flags, this binary links libFuzzer's
// coverage hooks, which need an input function; it is never called.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});

fn put(target: &str, data: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(seed_name(data)), data).expect("seed");
}

fn model() -> Vec<u8> {
    let arch: arch::Architecture = "mlp:4,3,2".parse().expect("arch");
    let specs = arch.tensors();
    let bytes: Vec<Vec<u8>> = specs
        .iter()
        .map(|s| vec![0u8; 4 * s.shape.iter().product::<u64>() as usize])
        .collect();
    let tensors: Vec<TensorData<'_>> = specs
        .iter()
        .zip(&bytes)
        .map(|(s, b)| TensorData {
            name: &s.name,
            dtype: Dtype::F32,
            shape: s.shape.clone(),
            data: b,
        })
        .collect();
    let meta: BTreeMap<String, String> =
        [(arch::ARCHITECTURE_TAG.to_owned(), arch.to_string())].into();
    tensorfile::write(&meta, &tensors).expect("a model file")
}

fn main() {
    let chain = fixture_chain();
    let keys = fixture_keys();
    let state = chain.state();
    let (sponsor, miner) = (&keys[0], &keys[1]);
    let bounty_a = BountyId(4);
    let bounty_b = BountyId(5);

    put("tensorfile", &model());

    let transfer = Action::Transfer {
        to: miner.account(),
        amount: Amount(7),
    };
    let message = Message {
        chain_id: state.chain_id().to_owned(),
        signer: sponsor.account(),
        nonce: state.nonce(&sponsor.account()) + 1,
        action: transfer.clone(),
    };
    let signed = message.sign(sponsor);
    put("message", &encoding::encode(&message));
    put(
        "message",
        &[&signed.signature.0[..], &signed.message].concat(),
    );
    put("message", &serde_json::to_vec(&signed).expect("json"));

    put(
        "entry",
        &[&[0u8][..], &encoding::encode(&chain.entries()[1])].concat(),
    );
    let actions = [
        (0u8, transfer.clone()),
        (
            0,
            Action::OpenBounty {
                spec: Box::new(fixture_spec("c", 1_700_100_000_000)),
            },
        ),
        (
            1,
            Action::Submit {
                bounty: bounty_b,
                file_hash: sha256(b"file c"),
                weights_hash: sha256(b"weights c"),
                parent_weights_hash: None,
            },
        ),
        (
            0,
            Action::TopUp {
                bounty: bounty_b,
                amount: Amount(5),
            },
        ),
        (0, Action::CancelBounty { bounty: bounty_b }),
        (2, Action::RegisterEvaluator { bond: Amount(10) }),
        (3, Action::CloseBounty { bounty: bounty_a }),
        (
            0,
            Action::BuyLicense {
                model: sha256(&[b'w', 0]),
            },
        ),
        (5, Action::EndSubmissions { bounty: bounty_b }),
    ];
    for (signer, action) in &actions {
        for step in [0u32, 4_000_000] {
            let mut seed = vec![1u8, *signer];
            seed.extend_from_slice(&step.to_le_bytes());
            seed.extend_from_slice(&encoding::encode(action));
            put("entry", &seed);
        }
    }

    let csv = b"label,a,b\n1,0.5,2\n0,1.5,3\n1,2.5,1\n";
    put("csv", &[&[0u8][..], csv].concat());
    put("csv", &[&[0x85u8][..], csv].concat());
    let ds = datasets::csv::load_csv(
        csv,
        "seed.csv",
        &datasets::csv::CsvOptions {
            label: datasets::csv::LabelColumn::First,
            header: None,
            task: bounties::spec::Task::Classification,
            name: "seed".into(),
            licence: "CC0-1.0".into(),
            source: "seed".into(),
        },
    )
    .expect("the seed csv");
    put("dataset", &ds.to_bytes());

    let mut images = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend_from_slice(&[0, 255, 7, 9, 1, 2, 3, 4]);
    let labels = [0u8, 0, 0x08, 1, 0, 0, 0, 2, 3, 7];
    put("idx", &[&[165u8][..], &images, &labels].concat());

    put(
        "text",
        &[&[4u8][..], b"text\tlabel\nthe film\tpos\nbad films!\tneg\n"].concat(),
    );
    put(
        "text",
        &[&[7u8][..], b"text,label\n\"the, film\",pos\nbad,neg\n"].concat(),
    );
    put(
        "text",
        &[&[8u8][..], b"To be, or not to be: that is the question."].concat(),
    );

    put("tokenizer", fixture_tokenizer_json());
    put("tokenizer", "the unaffable films! 中".as_bytes());

    let spec_toml = toml::to_string(&fixture_spec("d", 1_700_100_000_000)).expect("toml");
    put("spec", spec_toml.as_bytes());
    put(
        "spec",
        &std::fs::read("examples/specs/digits.toml").expect("run from the repository root"),
    );

    // A well-formed request signed by a key the ledger does not know, and
    // one by a known key whose timestamp is stale: both refused, deep in.
    let stranger = SecretKey::from_seed(sha256(b"stranger").0);
    let now = state.head().timestamp.0;
    for (key, ts) in [(&stranger, now), (sponsor, now - 3_600_000)] {
        let sig = sign_request(key, state.chain_id(), "GET", "/v1/jobs", ts);
        let seed = format!(
            "{}\n{ts}\n{}\n/v1/jobs",
            key.account().to_hex(),
            sig.to_hex()
        );
        put("signed_request", seed.as_bytes());
    }

    let model = model();
    let model_hash = sha256(&model);
    let api = |method: u8, flags: u8, path: &str, body: &[u8]| {
        put(
            "api",
            &[&[method, flags][..], path.as_bytes(), b"\n", body].concat(),
        );
    };
    api(0, 0, "/v1/info", b"");
    api(0, 0, "/v1/log?from=0&limit=3", b"");
    api(0, 0, "/v1/bounties/4/leaderboard", b"");
    api(
        0,
        0,
        &format!("/v1/accounts/{}", miner.account().to_hex()),
        b"",
    );
    api(0, 0, "/", b"");
    api(0, 0, "/bounties/4", b"");
    api(
        0,
        0,
        &format!("/models/{}", sha256(&[b'w', 0]).to_hex()),
        b"",
    );
    api(
        0,
        4,
        &format!("/v1/artifacts/{}", sha256(b"a hidden").to_hex()),
        b"",
    );
    api(1, 2, "/v1/messages", &encoding::encode(&transfer));
    api(
        1,
        0,
        "/v1/messages",
        &serde_json::to_vec(&signed).expect("json"),
    );
    api(1, 4 * 2 + 1, "/v1/jobs/lease", b"");
    api(
        2,
        4 + 1,
        &format!("/v1/artifacts/{}", model_hash.to_hex()),
        &model,
    );
}
