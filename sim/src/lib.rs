//! A deterministic simulation of the whole market, in the spirit of
//! FoundationDB's simulation and TigerBeetle's VOPR: the real state machine
//! and the coordinator's real sequencer, node and scheduler over an
//! in-memory log that fails the appends it is told to, a manual clock, and
//! many actors, honest and not, whose every call is drawn from one seed. One
//! seed replays one run exactly; `docs/simulation.md` says what it models
//! and what it does not.

pub mod actors;
pub mod checks;
pub mod faults;
pub mod model;
pub mod world;

use std::collections::BTreeMap;

pub use checks::Violation;
use world::World;

/// What to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed: everything is drawn from it.
    pub seed: u64,
    /// Operations to run (every append attempt and scheduler tick counts).
    pub ops: u64,
    /// Chance that an append meets a storage fault.
    pub fault_rate: f64,
    /// Chance per step that the node crashes and restarts from its log.
    pub crash_rate: f64,
    /// Chance that a client's answer is lost on the way back.
    pub drop_rate: f64,
    /// Honest evaluators.
    pub honest_evaluators: usize,
    /// Colluding evaluators.
    pub colluding_evaluators: usize,
    /// Break something on purpose, to show the checks catch it (tests only).
    pub sabotage: Option<Sabotage>,
}

/// A deliberate break, so a test can show that the invariants notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// The log forgets its last entry at every restart.
    ForgetfulLog,
    /// Honest evaluators post a wrong score for every fourth job.
    LyingHonest,
}

impl SimConfig {
    /// The defaults CI runs with, for `seed`.
    pub fn new(seed: u64, ops: u64) -> SimConfig {
        SimConfig {
            seed,
            ops,
            fault_rate: 0.01,
            crash_rate: 0.0005,
            drop_rate: 0.05,
            honest_evaluators: 4,
            colluding_evaluators: 2,
            sabotage: None,
        }
    }
}

/// Counts of what happened.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Operations: append attempts and scheduler ticks.
    pub ops: u64,
    /// Actors' turns.
    pub steps: u64,
    /// Scheduler ticks.
    pub ticks: u64,
    /// Invariant checks run.
    pub checks: u64,
    /// Appends the node acknowledged.
    pub acknowledged: u64,
    /// Answers lost on the way back.
    pub answers_dropped: u64,
    /// Retries resolved by asking the ledger for the nonce.
    pub resolved_by_nonce: u64,
    /// Appends that failed in storage.
    pub store_errors: u64,
    /// Faults injected.
    pub faults: u64,
    /// Faults injected, by kind.
    pub faults_by_kind: BTreeMap<String, u64>,
    /// Crashes the simulation caused.
    pub crashes: u64,
    /// Node restarts (crashes and stopped sequencers).
    pub restarts: u64,
    /// Refusals, by code.
    pub rejections: BTreeMap<&'static str, u64>,
    /// Uploads tried.
    pub uploads: u64,
    /// Uploads the coordinator refused.
    pub uploads_refused: u64,
    /// Evaluation leases taken.
    pub leases: u64,
    /// Leases whose evaluator crashed before posting.
    pub jobs_abandoned: u64,
    /// Audits that contested a final finding.
    pub contests: u64,
    /// Licences bought.
    pub licences: u64,
    /// Bounties closed and checked.
    pub bounties_closed: u64,
    /// Submissions of closed bounties checked.
    pub submissions_judged: u64,
    /// Submissions whose drawn bond was not mostly honest (no guarantee).
    pub without_honest_majority: u64,
    /// Payouts checked to go to scorable originals.
    pub payouts_checked: u64,
    /// Payouts to submissions without an honest majority (not checked).
    pub payouts_without_honest_majority: u64,
    /// Winner-take-all winners checked to be the true best.
    pub winners_checked: u64,
}

/// A run that broke an invariant, with what it takes to replay it.
#[derive(Debug, thiserror::Error)]
#[error(
    "seed {seed}: step {step} (operation {ops}): {violation}\n  replay: cargo run --release -p bounties-sim -- --seed {seed} --ops {budget}"
)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The actor turn it happened in.
    pub step: u64,
    /// Operations done by then.
    pub ops: u64,
    /// The operation budget of the run.
    pub budget: u64,
    /// What broke.
    pub violation: Violation,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Counts.
    pub stats: Stats,
    /// The log's length at the end.
    pub entries: u64,
    /// Simulated time covered, in seconds.
    pub simulated_secs: u64,
    /// The state root at the end.
    pub root: bounties::Hash32,
}

/// Run the simulation for `cfg.ops` operations, then let every bounty close,
/// checking the invariants all along.
pub fn run(cfg: SimConfig) -> Result<Report, Failure> {
    let mut w = World::new(cfg.clone(), actors::cast(&cfg));
    let fail = |w: &World, violation: Violation| Failure {
        seed: cfg.seed,
        step: w.stats.steps,
        ops: w.stats.ops,
        budget: cfg.ops,
        violation,
    };
    if let Err(v) = drive(&mut w) {
        return Err(fail(&w, v));
    }
    Ok(Report {
        seed: cfg.seed,
        entries: w.state().head().seq + 1,
        simulated_secs: (w.now() - world::T0) / 1000,
        root: w.state().root(),
        stats: w.stats.clone(),
    })
}

fn drive(w: &mut World) -> Result<(), Violation> {
    let n = w.actors.len() as u64;
    while w.stats.ops < w.cfg.ops {
        w.stats.steps += 1;
        let ms = w.below(1_500);
        w.advance(ms)?;
        if w.chance(w.cfg.crash_rate) {
            w.stats.crashes += 1;
            w.restart()?;
        }
        let who = w.below(n) as usize;
        actors::turn(w, who)?;
        checks::conserved(w)?;
        if w.stats.steps.is_multiple_of(10_000) {
            checks::acknowledged_kept(w, false)?;
        }
    }
    // Let every open bounty pass its deadline and grace, evaluators still at work.
    let until = w.now() + 100_000 + w.state().params().close_grace_ms;
    while w.now() < until {
        w.advance(1_000)?;
        for who in 0..w.actors.len() {
            if matches!(w.actors[who].role, actors::Role::Evaluator(_)) {
                actors::turn(w, who)?;
            }
        }
        checks::conserved(w)?;
    }
    checks::acknowledged_kept(w, true)?;
    checks::replay_equals_live(w)
}

/// The report as lines for people (README's figures come from it).
pub fn summary(r: &Report) -> String {
    let s = &r.stats;
    let kinds: Vec<String> = s
        .faults_by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let mut rejections: Vec<(&&str, &u64)> = s.rejections.iter().collect();
    rejections.sort_by(|a, b| b.1.cmp(a.1));
    let top: Vec<String> = rejections
        .iter()
        .take(8)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    format!(
        "seed {seed}: {ops} operations ({steps} turns, {ticks} scheduler ticks), {entries} log entries, {secs} simulated s\n\
         invariant checks {checks}: all held\n\
         faults injected {faults} ({kinds}); store errors seen {store_errors}; crashes {crashes}, restarts {restarts}\n\
         answers dropped {dropped}, retries resolved by nonce {resolved}; acknowledged {acked}\n\
         uploads {uploads} ({refused} refused); leases {leases} ({abandoned} abandoned by crashing evaluators); contests {contests}; licences {licences}\n\
         bounties closed {closed}; submissions judged {judged} ({minority} without an honest bond majority); payouts checked {paid} (+{unchecked} without an honest majority); winners checked {winners}\n\
         refusals: {top}",
        seed = r.seed,
        ops = s.ops,
        steps = s.steps,
        ticks = s.ticks,
        entries = r.entries,
        secs = r.simulated_secs,
        checks = s.checks,
        faults = s.faults,
        kinds = kinds.join(", "),
        store_errors = s.store_errors,
        crashes = s.crashes,
        restarts = s.restarts,
        dropped = s.answers_dropped,
        resolved = s.resolved_by_nonce,
        acked = s.acknowledged,
        uploads = s.uploads,
        refused = s.uploads_refused,
        leases = s.leases,
        abandoned = s.jobs_abandoned,
        contests = s.contests,
        licences = s.licences,
        closed = s.bounties_closed,
        judged = s.submissions_judged,
        minority = s.without_honest_majority,
        paid = s.payouts_checked,
        unchecked = s.payouts_without_honest_majority,
        winners = s.winners_checked,
        top = top.join(", "),
    )
}
