//! The world: one coordinator node (the real sequencer and state machine
//! over [`SimLog`]), a manual clock, the actors, and the client loop every
//! actor's messages go through (answers dropped, retried, resolved by nonce
//! as `bounties-client` does). Everything is drawn from one seeded ChaCha20
//! stream and every call is awaited before the next, so a seed replays the
//! same run.

use std::collections::BTreeMap;
use std::sync::Arc;

use bounties::encoding::sha256;
use bounties::state::records::BountyStatus;
use bounties::{
    AccountId, Action, Amount, BountyId, Entry, Genesis, Hash32, Message, Params, SecretKey,
    SignedMessage, State, TimestampMs, encoding,
};
use coordinator::clock::ManualClock;
use coordinator::ingest::{Upload, ingest};
use coordinator::node::{Config, Node, NodeError};
use coordinator::staging::Staging;
use coordinator::store::LogStore;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::actors::{Actor, Role};
use crate::checks::Violation;
use crate::faults::{Fault, MemoryArtifacts, SimLog};
use crate::{SimConfig, Stats};

pub(crate) const CHAIN: &str = "sim";
pub(crate) const T0: u64 = 1_800_000_000_000;
/// The scheduler ticks once per simulated second.
pub(crate) const TICK_MS: u64 = 1_000;

/// What became of a message a client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// In the log at this seq (acknowledged, or found by its nonce).
    Applied,
    /// Refused by the ledger or the front end; not in the log.
    Rejected,
}

/// The simulated market.
#[allow(missing_debug_implementations)] // a runtime and a node: nothing to print
pub struct World {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: ChaCha20Rng,
    rt: tokio::runtime::Runtime,
    pub(crate) clock: ManualClock,
    pub(crate) store: Arc<SimLog>,
    artifacts: Arc<MemoryArtifacts>,
    staging_dir: tempfile::TempDir,
    pub(crate) node: Arc<Node>,
    operator: SecretKey,
    pub(crate) actors: Vec<Actor>,
    /// Files uploaded (or refused), by SHA-256: their bytes.
    pub(crate) files: BTreeMap<Hash32, Vec<u8>>,
    /// Every acknowledgement the node gave (delivered or dropped): seq → entry hash.
    pub(crate) acked: BTreeMap<u64, Hash32>,
    /// Every entry by (signer, nonce): seq and the message's hash.
    pub(crate) by_nonce: BTreeMap<(AccountId, u64), (u64, Hash32)>,
    scanned: u64,
    pub(crate) stats: Stats,
    /// Bounties not yet closed or cancelled (so no step scans them all).
    pub(crate) live: std::collections::BTreeSet<BountyId>,
    /// Closed bounties' files, now public: (file hash, weights hash).
    pub(crate) public: Vec<(Hash32, Hash32)>,
    /// Winning models, for licensees.
    pub(crate) winners: Vec<Hash32>,
    /// Acknowledged entries up to here have been found in the log.
    acked_checked: u64,
    next_tick: u64,
    pub(crate) counter: u64,
}

impl World {
    /// A fresh chain: a genesis funding every actor, and a node over it.
    pub fn new(cfg: SimConfig, actors: Vec<Actor>) -> World {
        let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
        let mut key = |label: &str| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            SecretKey::from_seed(sha256(&[&seed[..], label.as_bytes()].concat()).0)
        };
        let operator = key("operator");
        let minter = key("minter");
        let mut actors = actors;
        for a in &mut actors {
            a.key = key(&a.name);
        }
        let mut balances: Vec<(AccountId, Amount)> = actors
            .iter()
            .filter(|a| a.role != Role::Sybil)
            .map(|a| (a.key.account(), Amount(a.role.funds())))
            .collect();
        balances.sort();
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            params: params(),
            minter: minter.account(),
            operator: operator.account(),
            balances,
        };
        let store = Arc::new(if cfg.sabotage == Some(crate::Sabotage::ForgetfulLog) {
            SimLog::forgetful()
        } else {
            SimLog::default()
        });
        store
            .append(&[Entry::genesis(&genesis, &operator, TimestampMs(T0))])
            .expect("genesis");
        // Timers: uploads run under real-time deadlines (never reached here).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let clock = ManualClock::at(T0);
        let artifacts = Arc::new(MemoryArtifacts::default());
        // Staged uploads are fsynced; on tmpfs that costs nothing.
        let shm = std::path::Path::new("/dev/shm");
        let staging_dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a staging directory");
        let node = start(&rt, &store, &artifacts, &staging_dir, &clock, &operator);
        World {
            rng: ChaCha20Rng::seed_from_u64(cfg.seed ^ 0x5eed),
            cfg,
            rt,
            clock,
            store,
            artifacts,
            staging_dir,
            node,
            operator,
            actors,
            files: BTreeMap::new(),
            acked: BTreeMap::new(),
            by_nonce: BTreeMap::new(),
            scanned: 1,
            stats: Stats::default(),
            live: Default::default(),
            public: Vec::new(),
            winners: Vec::new(),
            acked_checked: 0,
            next_tick: T0 + TICK_MS,
            counter: 0,
        }
    }

    /// A uniform draw below `n` (at least 1).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        bounties::seeded::index(&mut self.rng, n.max(1))
    }

    /// A fresh 64-bit draw.
    pub(crate) fn rng_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    pub(crate) fn now(&self) -> u64 {
        use coordinator::clock::Clock;
        self.clock.now_ms()
    }

    pub(crate) fn state(&self) -> Arc<State> {
        self.node.state()
    }

    /// Move the clock on and run the scheduler at every second it passes.
    pub(crate) fn advance(&mut self, ms: u64) -> Result<(), Violation> {
        self.clock.advance(ms);
        while self.next_tick <= self.now() {
            self.tick()?;
            self.next_tick += TICK_MS;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), Violation> {
        let faulted = self.maybe_fault();
        self.stats.ops += 1;
        self.stats.ticks += 1;
        self.rt.block_on(coordinator::scheduler::tick(&self.node));
        self.store.disarm();
        if self.store.take_stopped() {
            self.restart()?;
            return Ok(());
        }
        self.scan()?;
        if !faulted {
            crate::checks::closes_in_time(self)?;
        }
        crate::checks::closed_bounties(self)
    }

    /// Perhaps arm a storage fault for the next append; true if armed.
    fn maybe_fault(&mut self) -> bool {
        if !self.chance(self.cfg.fault_rate) {
            return false;
        }
        let fault = match self.below(10) {
            0..=4 => Fault::BeforeWrite,
            5..=8 => Fault::AfterWrite,
            _ => Fault::AfterWriteHeadLost,
        };
        self.stats.faults += 1;
        *self
            .stats
            .faults_by_kind
            .entry(format!("{fault:?}"))
            .or_default() += 1;
        self.store.arm(fault);
        true
    }

    /// Stop the node (everything in memory is lost: leases, the replay
    /// guard, the published state) and start a new one from the durable log.
    pub(crate) fn restart(&mut self) -> Result<(), Violation> {
        let before = self.state();
        self.stats.restarts += 1;
        // The old node goes when replaced, its sequencer thread with its
        // channel; every call was awaited, so it has nothing in flight.
        self.store.restarted();
        self.node = start(
            &self.rt,
            &self.store,
            &self.artifacts,
            &self.staging_dir,
            &self.clock,
            &self.operator,
        );
        let after = self.state();
        crate::checks::acknowledged_kept(self, false)?;
        let (b, a) = (before.head(), after.head());
        if a.seq < b.seq {
            return Err(Violation::new(format!(
                "restart lost published entries: head {} before, {} after",
                b.seq, a.seq
            )));
        }
        if a.seq == b.seq && after.root() != before.root() {
            return Err(Violation::new(format!(
                "the state replayed at restart differs from the live state at seq {}",
                a.seq
            )));
        }
        self.scan()
    }

    /// Index entries appended since the last scan by (signer, nonce); an
    /// entry whose (signer, nonce) is already there is a duplicate effect.
    pub(crate) fn scan(&mut self) -> Result<(), Violation> {
        loop {
            let entries = self
                .store
                .read(self.scanned, 1024)
                .map_err(|e| Violation::new(format!("reading the log: {e}")))?;
            if entries.is_empty() {
                return Ok(());
            }
            for e in entries {
                let m: Message = encoding::decode(&e.message).map_err(|err| {
                    Violation::new(format!("entry {} does not decode: {err}", e.seq))
                })?;
                if matches!(m.action, Action::OpenBounty { .. }) {
                    self.live.insert(BountyId(e.seq));
                }
                if let Some((seq, _)) = self
                    .by_nonce
                    .insert((m.signer, m.nonce), (e.seq, sha256(&e.message)))
                {
                    return Err(Violation::new(format!(
                        "entries {seq} and {} carry the same signer and nonce {}",
                        e.seq, m.nonce
                    )));
                }
                self.scanned = e.seq + 1;
            }
        }
    }

    /// Send `action` as actor `who` the way a client does: sign with the next
    /// nonce, send, and on a lost answer ask the ledger for the nonce before
    /// sending the very same message again.
    pub(crate) fn act(&mut self, who: usize, action: Action) -> Result<Outcome, Violation> {
        let key = self.actors[who].key.clone();
        let account = key.account();
        let nonce = self.state().nonce(&account) + 1;
        let signed: SignedMessage = Message {
            chain_id: CHAIN.into(),
            signer: account,
            nonce,
            action,
        }
        .sign(&key);
        let mine = sha256(&signed.message);
        for attempt in 0..8 {
            if attempt > 0 && self.state().nonce(&account) >= nonce {
                self.stats.resolved_by_nonce += 1;
                return self.applied_once(account, nonce, mine);
            }
            self.maybe_fault();
            self.stats.ops += 1;
            let result = self.rt.block_on(self.node.append(signed.clone()));
            // A fault armed for this append that the sequencer never reached
            // (the message was refused first) must not leak into the next.
            self.store.disarm();
            let dropped = self.chance(self.cfg.drop_rate);
            if dropped {
                self.stats.answers_dropped += 1;
            }
            match result {
                Ok(appended) => {
                    self.acked.insert(appended.seq, appended.hash);
                    self.stats.acknowledged += 1;
                    if !dropped {
                        return self.applied_once(account, nonce, mine);
                    }
                }
                Err(NodeError::Rejected(r)) => {
                    *self.stats.rejections.entry(r.code()).or_default() += 1;
                    if !dropped {
                        return self.rejected(account, nonce);
                    }
                }
                Err(NodeError::NotUploaded { .. } | NodeError::Publication(_)) => {
                    *self.stats.rejections.entry("not_uploaded").or_default() += 1;
                    if !dropped {
                        return self.rejected(account, nonce);
                    }
                }
                Err(NodeError::Store(_)) => {
                    self.stats.store_errors += 1;
                    if self.store.take_stopped() {
                        // The sequencer could not tell whether the batch committed,
                        // and stopped: a restart recovers from the durable log.
                        self.restart()?;
                    }
                }
                Err(NodeError::Stopped) => {
                    return Err(Violation::new(
                        "the sequencer stopped without a store failure that calls for it".into(),
                    ));
                }
                Err(e) => return Err(Violation::new(format!("the node failed: {e}"))),
            }
        }
        Err(Violation::new(format!(
            "a message by {account} (nonce {nonce}) was neither applied nor refused after 8 tries"
        )))
    }

    fn applied_once(
        &mut self,
        account: AccountId,
        nonce: u64,
        mine: Hash32,
    ) -> Result<Outcome, Violation> {
        self.scan()?;
        match self.by_nonce.get(&(account, nonce)) {
            Some((_, hash)) if *hash == mine => Ok(Outcome::Applied),
            Some((seq, _)) => Err(Violation::new(format!(
                "entry {seq} holds another message under {account}'s nonce {nonce}"
            ))),
            None => Err(Violation::new(format!(
                "{account}'s nonce {nonce} was acknowledged but is not in the log"
            ))),
        }
    }

    fn rejected(&mut self, account: AccountId, nonce: u64) -> Result<Outcome, Violation> {
        if self.state().nonce(&account) >= nonce {
            return Err(Violation::new(format!(
                "{account}'s nonce {nonce} was refused but the ledger used it"
            )));
        }
        Ok(Outcome::Rejected)
    }

    /// Upload `bytes` as actor `who` through the coordinator's real ingest
    /// (hash, header and architecture checks); true if stored.
    pub(crate) fn upload(&mut self, who: usize, bytes: Vec<u8>) -> Hash32 {
        let hash = sha256(&bytes);
        let upload = Upload {
            hash,
            owner: self.actors[who].key.account(),
            declared_len: Some(bytes.len() as u64),
            client: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
            bytes.clone(),
        ))]);
        self.stats.uploads += 1;
        if self.rt.block_on(ingest(&self.node, upload, body)).is_err() {
            self.stats.uploads_refused += 1;
        }
        self.files.insert(hash, bytes);
        hash
    }

    /// Lease the next job for evaluator `who`.
    pub(crate) fn lease(&mut self, who: usize) -> Option<coordinator::jobs::Lease> {
        let account = self.actors[who].key.account();
        let state = self.state();
        let now = self.now();
        self.counter += 1;
        let token = format!("lease-{}", self.counter);
        let ttl = self.node.config.lease_ttl_ms;
        self.rt
            .block_on(self.node.leases.lease(state, account, now, ttl, token))
            .expect("leases in memory do not fail")
    }

    /// Live bounties in `status`.
    pub(crate) fn bounties_in(&self, status: BountyStatus) -> Vec<BountyId> {
        let state = self.state();
        self.live
            .iter()
            .copied()
            .filter(|id| state.bounty(*id).is_some_and(|b| b.status == status))
            .collect()
    }

    /// The acknowledged entries not yet looked for in the log (all of them
    /// with `all`), and where to look from next.
    pub(crate) fn acked_unchecked(&self, all: bool) -> (Vec<(u64, Hash32)>, u64) {
        let from = if all { 0 } else { self.acked_checked };
        let pending: Vec<(u64, Hash32)> = self.acked.range(from..).map(|(s, h)| (*s, *h)).collect();
        let next = pending.last().map_or(from, |(s, _)| s + 1);
        (pending, next)
    }

    pub(crate) fn set_acked_checked(&mut self, next: u64) {
        self.acked_checked = next;
    }

    /// Every entry, genesis first.
    pub(crate) fn entries(&self) -> Result<Vec<Entry>, Violation> {
        let mut all = Vec::new();
        loop {
            let chunk = self
                .store
                .read(all.len() as u64, 4096)
                .map_err(|e| Violation::new(format!("reading the log: {e}")))?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend(chunk);
        }
    }
}

/// The simulation's protocol parameters: short windows, so bounties cycle.
pub(crate) fn params() -> Params {
    Params {
        min_evaluator_bond: Amount(100),
        slash_bps: 2_000,
        close_grace_ms: 120_000,
        message_bytes_max: 1 << 20,
        dispute_window_ms: 20_000,
    }
}

fn start(
    rt: &tokio::runtime::Runtime,
    store: &Arc<SimLog>,
    artifacts: &Arc<MemoryArtifacts>,
    staging_dir: &tempfile::TempDir,
    clock: &ManualClock,
    operator: &SecretKey,
) -> Arc<Node> {
    let _guard = rt.enter();
    let config = Config {
        lease_ttl_ms: 30_000,
        snapshot_every: 256,
        ..Config::default()
    };
    Node::start(
        Arc::clone(store) as Arc<dyn LogStore>,
        Arc::clone(artifacts) as Arc<dyn coordinator::artifacts::ArtifactStore>,
        Staging::open(staging_dir.path()).expect("staging"),
        Arc::new(clock.clone()),
        Some(operator.clone()),
        config,
    )
    .expect("the node recovers from its durable log")
}
