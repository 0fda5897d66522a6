//! Evaluation jobs: none before submissions end; only the drawn evaluators
//! are leased a submission (and so may read its sealed files); asking again
//! returns the same lease; a lapsed lease is given again to the drawn
//! evaluator; others are offered an audit of a final score in its window.

mod support;

use bounties::{Action, Amount, Params};
use bounties_api::JobKind;
use serde_json::Value;

#[test]
fn jobs_go_to_the_drawn_evaluators_only_and_leases_open_the_sealed_files() {
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
    let support::Opened {
        bounty,
        hidden: hidden_hash,
        deadline,
    } = support::open_digits(&s, 1);
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
    let m = support::tmp_path(&s, "m");
    let d = support::tmp_path(&s, "d");
    // Before the deadline: no job, and no registered evaluator may read anything.
    for eve in ["eve1", "eve2"] {
        assert!(c.lease(s.key(eve), &s.chain_id).unwrap().is_none());
        let err = c
            .download(Some(s.key(eve)), &s.chain_id, &hidden_hash, &d)
            .unwrap_err();
        assert_eq!(err.code(), Some("forbidden"));
    }
    s.clock.set(deadline + 1);
    s.tick();
    let state = s.node.state();
    assert_eq!(state.bounty(bounty).unwrap().status.as_str(), "scoring");
    let panel = state
        .submission(bounties::SubmissionId(sub))
        .unwrap()
        .panel
        .clone();
    assert_eq!(panel.len(), 1);
    let (drawn, other) = if panel[0] == s.key("eve1").account() {
        ("eve1", "eve2")
    } else {
        ("eve2", "eve1")
    };

    let first = c.lease(s.key(drawn), &s.chain_id).unwrap().expect("a job");
    assert_eq!(first.lease.submission.0, sub);
    assert_eq!(first.lease.kind, JobKind::Panel);
    assert_eq!(first.spec.hidden_dataset, hidden_hash);
    // Asking again gives the same lease; the other evaluator gets nothing.
    let again = c.lease(s.key(drawn), &s.chain_id).unwrap().expect("a job");
    assert_eq!(again.lease.token, first.lease.token);
    assert!(c.lease(s.key(other), &s.chain_id).unwrap().is_none());
    let err = c
        .download(Some(s.key(other)), &s.chain_id, &hidden_hash, &d)
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"));
    let jobs: Value = c.get("/v1/jobs").unwrap();
    assert_eq!(jobs["leases"].as_array().unwrap().len(), 1);

    // The lease lapses: the job is the drawn evaluator's again, with a new lease.
    s.clock.advance(s.node.config.lease_ttl_ms + 1);
    let err = c
        .download(Some(s.key(drawn)), &s.chain_id, &hidden_hash, &d)
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("forbidden"),
        "a lapsed lease opens nothing"
    );
    assert!(c.lease(s.key(other), &s.chain_id).unwrap().is_none());
    let second = c
        .lease(s.key(drawn), &s.chain_id)
        .unwrap()
        .expect("the lapsed job");
    assert_ne!(first.lease.token, second.lease.token);

    // The lease opens the sealed model and hidden set; a receipt completes it.
    c.download(Some(s.key(drawn)), &s.chain_id, &file_hash, &m)
        .unwrap();
    c.download(Some(s.key(drawn)), &s.chain_id, &hidden_hash, &d)
        .unwrap();
    c.act(
        s.key(drawn),
        Action::PostReceipt(support::receipt(&m, &d, sub)),
    )
    .unwrap();
    let jobs: Value = c.get("/v1/jobs").unwrap();
    assert!(jobs["leases"].as_array().unwrap().is_empty(), "{jobs}");
    assert!(c.lease(s.key(drawn), &s.chain_id).unwrap().is_none());
    // The other evaluator may audit the final score while its window is open, once.
    let audit = c
        .lease(s.key(other), &s.chain_id)
        .unwrap()
        .expect("an audit");
    assert_eq!(audit.lease.kind, JobKind::Audit);
    c.download(Some(s.key(other)), &s.chain_id, &hidden_hash, &d)
        .unwrap();
    s.clock.advance(s.node.config.lease_ttl_ms + 1);
    assert!(c.lease(s.key(other), &s.chain_id).unwrap().is_none());
}
