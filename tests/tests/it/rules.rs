//! The rules users rely on, through the real binaries: sealed data before the
//! deadline, access by provenance (never by naming a hash), scores bound to
//! the bytes, unscorable files that never hold a close, disputes that outvote
//! a lying panel member or a colluding panel, and no licence before the close.

use bounties::tensorfile::{self, TensorData, TensorFile};
use bounties::{Action, Amount, BountyId, BountySpec, Hash32, Receipt, Score};
use bounties_client::ClientError;
use serde_json::Value;

use crate::support::Chain;

/// Alice's model with other metadata: the same weights in a new file.
fn reserialised(model: &str, bob: &str) -> Vec<u8> {
    let bytes = std::fs::read(model).unwrap();
    let file = TensorFile::parse(&bytes).unwrap();
    let mut meta = file.metadata.clone();
    meta.insert("License".into(), "MIT".into());
    meta.insert("Miner".into(), bob.into());
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
    copy
}

/// A `Submit` signed by `who` and sent past the miner CLI's own checks.
fn submit_as(
    c: &Chain,
    who: &str,
    bounty: u64,
    file_hash: Hash32,
    weights_hash: Hash32,
) -> Result<bounties_client::Acted, ClientError> {
    c.client().act(
        &c.key(who),
        Action::Submit {
            bounty: BountyId(bounty),
            file_hash,
            weights_hash,
            parent_weights_hash: None,
        },
    )
}

fn submit(c: &Chain, who: &str, model: &str, bounty: u64) {
    let b = bounty.to_string();
    c.ok(
        "miner",
        &["submit", model, "--bounty", &b, "--key", &c.key_path(who)],
    );
}

#[test]
fn sealed_data_is_readable_by_nobody_else_before_the_deadline_and_naming_a_hash_grants_nothing() {
    let c = Chain::start(&["sponsor", "alice", "bob", "business"]);
    let id = c.open_digits("10m", &[]);
    let alice = c.train("alice", id, "a", "3");
    submit(&c, "alice", &alice, id);
    let client = c.client();
    let info = client.info().unwrap();
    let bounty = c.bounty(id);
    let hidden = bounty.bounty.spec.hidden_dataset;
    let alice_file = bounty.submissions[0].submission.file_hash;
    let dest = std::path::PathBuf::from(c.path("stolen"));
    let cannot_read = |who: &str| {
        for hash in [hidden, alice_file] {
            let err = client
                .download(Some(&c.key(who)), &info.chain_id, &hash, &dest)
                .unwrap_err();
            assert_eq!(err.code(), Some("forbidden"), "{who}: {err}");
        }
        assert!(!dest.exists());
    };
    cannot_read("bob");
    for hash in [hidden, alice_file] {
        let err = client
            .download(None, &info.chain_id, &hash, &dest)
            .unwrap_err();
        assert_eq!(err.code(), Some("unauthorized"), "{err}");
    }
    // The sponsor uploaded the hidden set and may read it; alice her model.
    let own = std::path::PathBuf::from(c.path("own"));
    client
        .download(Some(&c.key("sponsor")), &info.chain_id, &hidden, &own)
        .unwrap();
    client
        .download(Some(&c.key("alice")), &info.chain_id, &alice_file, &own)
        .unwrap();

    // Naming the hidden set in a bounty of his own, or as a submission's file.
    let mut spec: BountySpec = (*bounty.bounty.spec).clone();
    spec.title = "bob's".into();
    let err = client
        .act(
            &c.key("bob"),
            Action::OpenBounty {
                spec: Box::new(spec.clone()),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("hidden_set_in_use"), "{err}");
    spec.train_dataset = hidden;
    spec.hidden_dataset = Hash32([7; 32]);
    let err = client
        .act(
            &c.key("bob"),
            Action::OpenBounty {
                spec: Box::new(spec),
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("sealed_artifact"), "{err}");
    for file_hash in [hidden, alice_file] {
        let err = submit_as(&c, "bob", id, file_hash, Hash32([9; 32])).unwrap_err();
        assert_eq!(err.code(), Some("not_uploaded"), "{err}");
    }
    // An empty signed PUT of a stored hash makes nobody an owner.
    let empty = c.path("empty");
    std::fs::write(&empty, b"").unwrap();
    let err = client
        .upload_as(
            &c.key("bob"),
            &info.chain_id,
            std::path::Path::new(&empty),
            hidden,
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("hash_mismatch"), "{err}");
    // Posting an evaluator's bond does not open sealed data either.
    register(&c, "bob");
    cannot_read("bob");

    // Bob re-saves Alice's weights under his own tags: same weights hash, refused.
    let copy = reserialised(&alice, &c.key("bob").account().to_hex());
    let copy_path = c.path("copy.safetensors");
    std::fs::write(&copy_path, &copy).unwrap();
    let b = id.to_string();
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
    let file_hash = client
        .upload(
            &c.key("bob"),
            &info.chain_id,
            std::path::Path::new(&copy_path),
        )
        .unwrap()
        .hash;
    let err = submit_as(
        &c,
        "bob",
        id,
        file_hash,
        TensorFile::parse(&copy).unwrap().weights_hash(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ClientError::Api { code, .. } if code == "weights_claimed"),
        "{err}"
    );

    // No licence before the close.
    let weights = TensorFile::parse(&std::fs::read(&alice).unwrap())
        .unwrap()
        .weights_hash()
        .to_hex();
    let out = c.run(
        "bounty",
        &["--key", &c.key_path("business"), "license", "buy", &weights],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("422"), "{err}");
}

#[test]
fn a_copy_with_a_made_up_weights_hash_and_an_oversized_model_are_unscorable_and_never_hold_the_close()
 {
    // A grace of an hour: the close must not need it.
    let c = Chain::start_with(
        &["sponsor", "alice", "bob", "mallory", "eve", "frank"],
        &["--close-grace-secs", "3600", "--dispute-window-secs", "1"],
    );
    // Long enough for two trainings while the other tests share the cores.
    let id = c.open_digits("45s", &[]);
    for who in ["eve", "frank"] {
        c.ok(
            "evaluator",
            &["register", "--key", &c.key_path(who), "--bond", "5000"],
        );
    }
    let alice = c.train("alice", id, "a", "3");
    submit(&c, "alice", &alice, id);
    let client = c.client();
    let chain_id = client.info().unwrap().chain_id;
    let balance = |who: &str| -> u128 {
        client
            .account(&c.key(who).account())
            .unwrap()
            .account
            .balance
            .0
    };
    // Bob's copy claims weights nobody has: the ledger cannot tell before scoring.
    let copy_path = c.path("copy.safetensors");
    std::fs::write(&copy_path, reserialised(&alice, "bob")).unwrap();
    let bob0 = balance("bob");
    let file_hash = client
        .upload(&c.key("bob"), &chain_id, std::path::Path::new(&copy_path))
        .unwrap()
        .hash;
    submit_as(&c, "bob", id, file_hash, Hash32([42; 32])).unwrap();
    // Mallory's model has 155 658 parameters; the bounty allows 100 000.
    let big = c.path("big.safetensors");
    c.ok(
        "miner",
        &[
            "train",
            "--dataset",
            "digits",
            "--arch",
            "mlp:64,2048,10",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--out",
            &big,
        ],
    );
    let big_hash = client
        .upload(&c.key("mallory"), &chain_id, std::path::Path::new(&big))
        .unwrap()
        .hash;
    let big_weights = TensorFile::parse(&std::fs::read(&big).unwrap())
        .unwrap()
        .weights_hash();
    submit_as(&c, "mallory", id, big_hash, big_weights).unwrap();

    c.wait_status(id, "scoring");
    for who in ["eve", "frank"] {
        work(&c, who);
    }
    let board: Value = client
        .get(&format!("/v1/bounties/{id}/leaderboard"))
        .unwrap();
    let reasons: Vec<String> = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r["unscorable"]["reason"].as_str() {
            Some(why) => why.to_owned(),
            None => format!("score {}", r["score"]),
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{board}");
    assert!(
        reasons.contains(&"weights_mismatch".to_owned()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"over_limits".to_owned()), "{reasons:?}");
    // Closed long before the hour of grace, with only alice paid.
    c.wait_status(id, "closed");
    let st = c.bounty(id).bounty.settlement.expect("settled");
    assert_eq!(st.payouts.len(), 1, "{st:?}");
    assert_eq!(st.payouts[0].miner, c.key("alice").account());
    assert_eq!(st.deposits_forfeited, Amount(400), "{st:?}");
    assert_eq!(bob0 - balance("bob"), 200, "the copier loses its deposit");
}

/// Lease `who`'s job, download what it names, and post a receipt claiming
/// every example right (a lie for any real model).
fn post_perfect_score(c: &Chain, who: &str, model: &str) -> u64 {
    let client = c.client();
    let chain_id = client.info().unwrap().chain_id;
    let job = client
        .lease(&c.key(who), &chain_id)
        .unwrap()
        .expect("a job");
    let sub = job.lease.submission.0;
    let hidden = c.path(&format!("hidden-{who}.safetensors"));
    client
        .download(
            Some(&c.key(who)),
            &chain_id,
            &job.lease.dataset,
            std::path::Path::new(&hidden),
        )
        .unwrap();
    let honest = c.json(
        "evaluator",
        &[
            "score",
            "--model",
            model,
            "--dataset",
            &hidden,
            "--submission",
            &sub.to_string(),
            "--json",
        ],
    );
    let mut receipt: Receipt = serde_json::from_value(honest["receipt"].clone()).unwrap();
    if let bounties::message::Verdict::Scored {
        score,
        example_scores,
        example_digest,
        ..
    } = &mut receipt.verdict
    {
        example_scores.iter_mut().for_each(|s| *s = Score::SCALE);
        *score = Score(Score::SCALE);
        *example_digest = bounties::encoding::example_scores_digest(example_scores);
    }
    client
        .act(&c.key(who), Action::PostReceipt(receipt))
        .unwrap();
    sub
}

fn bond_and_forfeit(c: &Chain, who: &str) -> (String, String) {
    let e = c
        .client()
        .account(&c.key(who).account())
        .unwrap()
        .account
        .evaluator
        .expect("registered");
    (e.bond.to_string(), e.forfeited.to_string())
}

const EVALUATORS: [&str; 4] = ["e1", "e2", "e3", "e4"];

/// A chain, a bounty past its deadline with alice's model, four evaluators;
/// returns the chain, the bounty, alice's model file and the drawn panel.
fn scoring_with_four_evaluators() -> (Chain, u64, String, Vec<String>) {
    let c = Chain::start_with(
        &["sponsor", "alice", "e1", "e2", "e3", "e4"],
        &["--close-grace-secs", "3600", "--dispute-window-secs", "600"],
    );
    // Long enough to register four evaluators and train while the other tests share the cores.
    let id = c.open_digits("40s", &[]);
    for who in EVALUATORS {
        register(&c, who);
    }
    let model = c.train("alice", id, "a", "3");
    submit(&c, "alice", &model, id);
    c.wait_status(id, "scoring");
    let panel: Vec<String> = c.bounty(id).submissions[0]
        .submission
        .panel
        .iter()
        .map(|a| c.name_of(&a.to_hex(), &EVALUATORS))
        .collect();
    assert_eq!(panel.len(), 2);
    (c, id, model, panel)
}

fn register(c: &Chain, who: &str) {
    c.ok(
        "evaluator",
        &["register", "--key", &c.key_path(who), "--bond", "5000"],
    );
}

fn work(c: &Chain, who: &str) {
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

#[test]
fn a_lying_panel_member_is_outvoted_by_a_dispute_panel_and_only_it_forfeits() {
    let (c, id, model, panel) = scoring_with_four_evaluators();
    let (liar, honest) = (&panel[0], &panel[1]);
    post_perfect_score(&c, liar, &model);
    work(&c, honest);
    let sub = c.bounty(id).submissions[0].submission.clone();
    assert!(
        sub.final_score.is_none() && sub.dispute.is_some(),
        "{sub:?}"
    );
    // Nobody forfeits on disagreement alone.
    assert_eq!(bond_and_forfeit(&c, liar), ("5000".into(), "0".into()));
    for who in EVALUATORS
        .iter()
        .filter(|e| !panel.contains(&e.to_string()))
    {
        work(&c, who);
    }
    let sub = c.bounty(id).submissions[0].submission.clone();
    let score = sub.final_score.as_ref().and_then(|f| f.score()).unwrap();
    assert!(score.0 < Score::SCALE, "the truth is final: {sub:?}");
    assert_eq!(bond_and_forfeit(&c, liar), ("4000".into(), "1000".into()));
    for who in EVALUATORS.iter().filter(|e| **e != liar.as_str()) {
        assert_eq!(
            bond_and_forfeit(&c, who),
            ("5000".into(), "0".into()),
            "{who}"
        );
    }
}

#[test]
fn a_colluding_panel_loses_its_false_score_to_an_honest_audit_within_the_window() {
    let (c, id, model, panel) = scoring_with_four_evaluators();
    for colluder in &panel {
        post_perfect_score(&c, colluder, &model);
    }
    let sub = c.bounty(id).submissions[0].submission.clone();
    assert_eq!(
        sub.final_score.as_ref().and_then(|f| f.score()),
        Some(Score(Score::SCALE)),
        "{sub:?}"
    );
    // The other evaluators audit final scores in their window: one contests,
    // the other is drawn to decide.
    let others: Vec<&str> = EVALUATORS
        .iter()
        .copied()
        .filter(|e| !panel.contains(&e.to_string()))
        .collect();
    for who in &others {
        work(&c, who);
    }
    for who in &others {
        work(&c, who);
    }
    let sub = c.bounty(id).submissions[0].submission.clone();
    let score = sub.final_score.as_ref().and_then(|f| f.score()).unwrap();
    assert!(score.0 < Score::SCALE, "the truth is final: {sub:?}");
    for colluder in &panel {
        assert_eq!(
            bond_and_forfeit(&c, colluder),
            ("4000".into(), "1000".into())
        );
    }
    for who in &others {
        assert_eq!(
            bond_and_forfeit(&c, who),
            ("5000".into(), "0".into()),
            "{who}"
        );
    }
}
