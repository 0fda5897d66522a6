//! The rules users rely on, through the real binaries: sealing, one model per
//! bounty, no licence before the close, and a lying evaluator pays.

use bounties::client::ClientError;
use bounties::tensorfile::{self, TensorData, TensorFile};
use bounties::{Action, BountyId, Hash32};
use serde_json::Value;

use crate::support::Chain;

#[test]
fn sealed_data_stays_sealed_and_weights_are_submitted_once() {
    let c = Chain::start(&["sponsor", "alice", "bob", "business"]);
    let id = c.open_digits("10m", &[]);
    let alice = c.train("alice", id, "a", "3");
    let b = id.to_string();
    c.ok(
        "miner",
        &[
            "submit",
            &alice,
            "--bounty",
            &b,
            "--key",
            &c.key_path("alice"),
        ],
    );

    // Bob cannot read the hidden set or Alice's sealed model.
    let client = c.client();
    let info = client.info().unwrap();
    let bounty: Value = client.get(&format!("/v1/bounties/{id}")).unwrap();
    let hidden: Hash32 = bounty["bounty"]["spec"]["hidden-dataset"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let alice_file: Hash32 = bounty["submissions"][0]["file_hash"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let dest = std::path::PathBuf::from(c.path("stolen"));
    for hash in [hidden, alice_file] {
        let err = client
            .download(Some(&c.key("bob")), &info.chain_id, &hash, &dest)
            .unwrap_err();
        assert_eq!(err.code(), Some("forbidden"), "{err}");
        let err = client
            .download(None, &info.chain_id, &hash, &dest)
            .unwrap_err();
        assert_eq!(err.code(), Some("unauthorized"), "{err}");
    }
    assert!(!dest.exists());

    // Bob re-saves Alice's weights under his own tags: same weights hash, refused.
    let bytes = std::fs::read(&alice).unwrap();
    let file = TensorFile::parse(&bytes).unwrap();
    let mut meta = file.metadata.clone();
    meta.insert("License".into(), "MIT".into());
    meta.insert("Miner".into(), c.key("bob").account().to_hex());
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
    let copy = tensorfile::write(&meta, &tensors).unwrap();
    assert_ne!(copy, bytes);
    let copy_path = c.path("copy.safetensors");
    std::fs::write(&copy_path, &copy).unwrap();
    let out = c.run(
        "miner",
        &[
            "submit",
            &copy_path,
            "--bounty",
            &b,
            "--key",
            &c.key_path("bob"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already submitted by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Past the CLI's own check, the ledger refuses it too.
    let file_hash = client
        .upload(
            &c.key("bob"),
            &info.chain_id,
            std::path::Path::new(&copy_path),
        )
        .unwrap();
    let err = client
        .act(
            &c.key("bob"),
            Action::Submit {
                bounty: BountyId(id),
                file_hash,
                weights_hash: TensorFile::parse(&copy).unwrap().weights_hash(),
                parent_weights_hash: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { code, .. } if code == "weights_claimed"),
        "{err}"
    );

    // No licence before the close.
    let weights = TensorFile::parse(&bytes).unwrap().weights_hash().to_hex();
    let out = c.run(
        "bounty",
        &["--key", &c.key_path("business"), "license", "buy", &weights],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("422"), "{err}");
}

#[test]
fn an_evaluator_contradicting_the_quorum_forfeits_part_of_its_bond() {
    let c = Chain::start(&["sponsor", "alice", "eve", "frank", "mallory"]);
    let id = c.open_digits("10m", &[]);
    let model = c.train("alice", id, "a", "3");
    let b = id.to_string();
    c.ok(
        "miner",
        &[
            "submit",
            &model,
            "--bounty",
            &b,
            "--key",
            &c.key_path("alice"),
        ],
    );
    for who in ["eve", "frank", "mallory"] {
        c.ok(
            "evaluator",
            &["register", "--key", &c.key_path(who), "--bond", "5000"],
        );
    }

    // Mallory scores honestly, then posts a doctored receipt first.
    let client = c.client();
    let info = client.info().unwrap();
    let bounty: Value = client.get(&format!("/v1/bounties/{id}")).unwrap();
    let sub = bounty["submissions"][0]["id"].as_u64().unwrap();
    let hidden: Hash32 = bounty["bounty"]["spec"]["hidden-dataset"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hidden_path = c.path("hidden.safetensors");
    client
        .download(
            Some(&c.key("mallory")),
            &info.chain_id,
            &hidden,
            std::path::Path::new(&hidden_path),
        )
        .unwrap();
    let honest = c.json(
        "evaluator",
        &[
            "score",
            "--model",
            &model,
            "--dataset",
            &hidden_path,
            "--submission",
            &sub.to_string(),
            "--json",
        ],
    );
    let mut receipt: bounties::Receipt = serde_json::from_value(honest["receipt"].clone()).unwrap();
    assert_eq!(
        receipt.dataset, hidden,
        "receipts name the hidden set by its file hash"
    );
    let flipped = receipt
        .example_scores
        .iter()
        .position(|&s| s == 0)
        .unwrap_or(0);
    receipt.example_scores[flipped] = 1_000_000 - receipt.example_scores[flipped];
    receipt.score = evaluator::score::mean_fixed(&receipt.example_scores);
    receipt.example_digest = bounties::encoding::example_scores_digest(&receipt.example_scores);
    client
        .act(&c.key("mallory"), Action::PostReceipt(receipt))
        .unwrap();

    // The two honest evaluators agree; the quorum of two makes the score final.
    for who in ["eve", "frank"] {
        c.ok(
            "evaluator",
            &[
                "work",
                "--key",
                &c.key_path(who),
                "--until-idle",
                "--threads",
                "1",
            ],
        );
    }
    let account = |who: &str| -> Value {
        client
            .get(&format!("/v1/accounts/{}", c.key(who).account()))
            .unwrap()
    };
    let board: Value = client
        .get(&format!("/v1/bounties/{id}/leaderboard"))
        .unwrap();
    assert!(!board["rows"][0]["score"].is_null(), "final: {board}");
    let mallory = account("mallory");
    let eve = account("eve");
    assert_eq!(eve["evaluator"]["forfeited"], "0");
    assert_eq!(eve["evaluator"]["bond"], "5000");
    // slash-bps 2000 of a 5000 bond.
    assert_eq!(mallory["evaluator"]["forfeited"], "1000", "{mallory}");
    assert_eq!(mallory["evaluator"]["bond"], "4000", "{mallory}");
}
