//! Evaluation jobs: none before submissions end; only the drawn evaluators
//! are leased a submission (and so may read its sealed files); asking again
//! returns the same lease; a lapsed lease is given again to the drawn
//! evaluator; others are offered an audit of a final score in its window;
//! front-ends on one PostgreSQL database keep one book of leases.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use bounties::{Action, Amount, Params};
use bounties_api::JobKind;
use coordinator::clock::Clock;
use coordinator::jobs::LeaseBook;
use coordinator::shared::leases::SharedLeases;
use coordinator::store::postgres::PostgresLog;
use coordinator::store::postgres::scratch::ScratchDatabase;
use serde_json::Value;

/// A scoring bounty with one submission and two registered evaluators, one
/// of them drawn for it.
struct Scoring {
    s: support::Served,
    sub: u64,
    file_hash: bounties::Hash32,
    hidden_hash: bounties::Hash32,
    drawn: &'static str,
    other: &'static str,
}

fn scoring() -> Scoring {
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
    Scoring {
        s,
        sub,
        file_hash,
        hidden_hash,
        drawn,
        other,
    }
}

#[test]
fn jobs_go_to_the_drawn_evaluators_only_and_leases_open_the_sealed_files() {
    let Scoring {
        s,
        sub,
        file_hash,
        hidden_hash,
        drawn,
        other,
    } = scoring();
    let c = &s.client;
    let m = support::tmp_path(&s, "m");
    let d = support::tmp_path(&s, "d");
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

#[test]
fn front_ends_on_one_database_lease_each_job_once_and_honour_each_others_leases() {
    let Scoring {
        s,
        sub,
        hidden_hash,
        drawn,
        other,
        ..
    } = scoring();
    let db = ScratchDatabase::create().unwrap();
    let logs = [
        PostgresLog::open(db.url()).unwrap(),
        PostgresLog::open(db.url()).unwrap(),
    ];
    let books: Vec<SharedLeases> = logs
        .iter()
        .map(|l| SharedLeases::new(l.database()))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (state, now, ttl) = (s.node.state(), s.clock.now_ms(), 60_000);
    let (drawn, other) = (s.key(drawn).account(), s.key(other).account());

    // The drawn evaluator asks both front-ends 16 times at once: one lease.
    let tokens: BTreeSet<String> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..16)
            .map(|i| {
                let (book, state, runtime) = (&books[i % 2], Arc::clone(&state), &runtime);
                scope.spawn(move || {
                    runtime
                        .block_on(book.lease(state, drawn, now, ttl, format!("token-{i}")))
                        .unwrap()
                        .expect("the drawn job")
                        .token
                })
            })
            .collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    for book in &books {
        let active = runtime.block_on(book.active(now)).unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].submission.0, sub);
        // The lease one front-end gave opens the hidden set at the other.
        assert!(
            runtime
                .block_on(book.grants(drawn, hidden_hash, now))
                .unwrap()
        );
        assert!(
            !runtime
                .block_on(book.grants(other, hidden_hash, now))
                .unwrap()
        );
        let none = runtime.block_on(book.lease(Arc::clone(&state), other, now, ttl, "x".into()));
        assert_eq!(
            none.unwrap(),
            None,
            "the undrawn evaluator has nothing to do"
        );
    }
    // Lapsed at both, once its time is past.
    assert!(
        !runtime
            .block_on(books[1].grants(drawn, hidden_hash, now + ttl))
            .unwrap()
    );
    // Completed through one front-end: gone at both.
    runtime
        .block_on(books[0].complete(drawn, bounties::SubmissionId(sub)))
        .unwrap();
    assert!(runtime.block_on(books[1].active(now)).unwrap().is_empty());
    assert!(
        !runtime
            .block_on(books[1].grants(drawn, hidden_hash, now))
            .unwrap()
    );
}
