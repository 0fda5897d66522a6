//! Evaluation leases: one at a time per needed receipt, expiry returns a job
//! to the queue, and an evaluator never gets the same submission twice.

mod support;

use bounties::{Action, Amount, BountyId, Params};
use serde_json::Value;

#[test]
fn an_expired_lease_returns_the_job_to_another_evaluator_only() {
    let config = coordinator::node::Config {
        lease_ttl_ms: 60_000,
        ..Default::default()
    };
    let s = support::serve_with(
        &["sponsor", "alice", "eve1", "eve2"],
        Params::default(),
        config,
    );
    let c = &s.client;
    let (train, hidden) = support::digits();
    let train_hash = s.upload("sponsor", "train", &train);
    let hidden_hash = s.upload("sponsor", "hidden", &hidden);
    let deadline = s.node.clock.now_ms() + 3_600_000;
    let opened = c
        .act(
            s.key("sponsor"),
            Action::OpenBounty {
                spec: Box::new(support::digits_spec(train_hash, hidden_hash, deadline, 1)),
            },
        )
        .unwrap();
    let bounty = BountyId(opened.seq.unwrap());
    let (sub, file_hash, _) = support::submit_model(&s, "alice", bounty, "one");
    for eve in ["eve1", "eve2"] {
        c.act(
            s.key(eve),
            Action::RegisterEvaluator {
                bond: Amount(1_000),
            },
        )
        .unwrap();
    }

    let first = c.lease(s.key("eve1"), &s.chain_id).unwrap().expect("a job");
    assert_eq!(first["submission"].as_u64(), Some(sub));
    assert_eq!(
        first["spec"]["hidden-dataset"].as_str(),
        Some(hidden_hash.to_hex().as_str())
    );
    // Quorum 1 and one lease out: nothing for the other evaluator yet.
    assert!(c.lease(s.key("eve2"), &s.chain_id).unwrap().is_none());
    let jobs: Value = c.get("/v1/jobs").unwrap();
    assert_eq!(jobs["leases"].as_array().unwrap().len(), 1);

    // The lease lapses: the job goes to eve2, never back to eve1.
    s.clock.advance(s.node.config.lease_ttl_ms + 1);
    assert!(c.lease(s.key("eve1"), &s.chain_id).unwrap().is_none());
    let second = c
        .lease(s.key("eve2"), &s.chain_id)
        .unwrap()
        .expect("the lapsed job");
    assert_eq!(second["submission"].as_u64(), Some(sub));
    assert_ne!(first["token"], second["token"]);

    // A receipt completes the lease.
    let m = support::tmp_path(&s, "m");
    let d = support::tmp_path(&s, "d");
    c.download(Some(s.key("eve2")), &s.chain_id, &file_hash, &m)
        .unwrap();
    c.download(Some(s.key("eve2")), &s.chain_id, &hidden_hash, &d)
        .unwrap();
    c.act(
        s.key("eve2"),
        Action::PostReceipt(support::receipt(&m, &d, sub)),
    )
    .unwrap();
    let jobs: Value = c.get("/v1/jobs").unwrap();
    assert!(jobs["leases"].as_array().unwrap().is_empty(), "{jobs}");
    assert!(
        c.lease(s.key("eve1"), &s.chain_id).unwrap().is_none(),
        "final: no more jobs"
    );
}
