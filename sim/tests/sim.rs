//! The simulation in CI: at least 100 000 operations on a fixed seed (so a
//! regression replays), then on a fresh seed each run (printed, so a failure
//! replays from it: `cargo run --release -p bounties-sim -- --seed S`).

use bounties_sim::{Sabotage, SimConfig, run, summary};

const OPS: u64 = 100_000;

fn fresh_seed() -> u64 {
    std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

fn check(seed: u64, ops: u64) {
    eprintln!("simulation seed {seed} ({ops} operations)");
    let report = run(SimConfig::new(seed, ops)).unwrap_or_else(|f| panic!("{f}"));
    eprintln!("{}", summary(&report));
    let s = &report.stats;
    assert!(s.ops >= ops, "{} operations", s.ops);
    // The run must have exercised what it claims to check.
    assert!(
        s.faults > 0 && s.restarts > 0 && s.resolved_by_nonce > 0,
        "{s:?}"
    );
    assert!(
        s.bounties_closed > 10 && s.payouts_checked > 0 && s.winners_checked > 0,
        "{s:?}"
    );
    assert!(
        s.contests > 0 && s.jobs_abandoned > 0 && s.licences > 0,
        "{s:?}"
    );
}

#[test]
fn a_fixed_seed_keeps_every_invariant() {
    check(16, OPS);
}

#[test]
fn a_fresh_seed_keeps_every_invariant() {
    check(fresh_seed(), OPS);
}

#[test]
fn a_seed_replays_exactly() {
    let a = run(SimConfig::new(7, 3_000)).expect("seed 7");
    let b = run(SimConfig::new(7, 3_000)).expect("seed 7 again");
    assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats));
    assert_eq!((a.entries, a.root), (b.entries, b.root));
    let c = run(SimConfig::new(8, 3_000)).expect("seed 8");
    assert_ne!(a.root, c.root);
}

#[test]
fn the_checks_catch_a_log_that_forgets_and_honest_evaluators_who_lie() {
    let cases = [
        (Sabotage::ForgetfulLog, ["acknowledged", "lost published"]),
        (
            Sabotage::LyingHonest,
            ["final finding is false", "true best"],
        ),
    ];
    for (sabotage, expected) in cases {
        let cfg = SimConfig {
            sabotage: Some(sabotage),
            ..SimConfig::new(3, 30_000)
        };
        let failure = run(cfg).expect_err("a sabotaged run must fail");
        let text = failure.to_string();
        eprintln!("{sabotage:?}: {text}");
        assert!(
            expected.iter().any(|e| text.contains(e)),
            "{sabotage:?}: {text}"
        );
        assert!(
            text.contains("--seed 3"),
            "the failure names its seed: {text}"
        );
    }
}
