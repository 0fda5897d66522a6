//! Shared test rig: a coordinator on 127.0.0.1:0 over a real SQLite file, with
//! a hand-moved clock, plus helpers to build specs, datasets and models.

#![allow(dead_code, clippy::disallowed_methods)]

pub mod binary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bounties::{Amount, BountySpec, Hash32, Params, SecretKey};
use bounties_client::Client;
use coordinator::artifacts::{ArtifactStore, LocalArtifacts};
use coordinator::clock::{Clock, ManualClock, SystemClock};
use coordinator::datadir::{self, DataDir};
use coordinator::node::{Config, Node};
use coordinator::staging::Staging;
use coordinator::store::LogLocation;
use coordinator::store::sqlite::SqliteLog;
use coordinator::{routes, server};

/// A running coordinator.
pub struct Served {
    pub url: String,
    pub node: Arc<Node>,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    pub keys: BTreeMap<String, SecretKey>,
    pub client: Client,
    pub chain_id: String,
    pub runtime: tokio::runtime::Runtime,
}

impl Served {
    pub fn key(&self, name: &str) -> &SecretKey {
        &self.keys[name]
    }

    /// Run the scheduler once, as its timer would.
    pub fn tick(&self) -> Vec<bounties::BountyId> {
        self.runtime
            .block_on(coordinator::scheduler::tick(&self.node))
    }

    pub fn data_dir(&self) -> DataDir {
        DataDir(self.dir.path().join("data"))
    }

    /// Write `bytes` to a file in the data dir's parent temp and upload it as `who`.
    pub fn upload(&self, who: &str, name: &str, bytes: &[u8]) -> Hash32 {
        let path = self.dir.path().join(format!("upload-{name}"));
        std::fs::write(&path, bytes).unwrap();
        self.client
            .upload(self.key(who), &self.chain_id, &path)
            .unwrap_or_else(|e| panic!("uploading {name}: {e}"))
            .hash
    }
}

/// Start a coordinator with these funded dev accounts.
pub fn serve(devs: &[&str], params: Params) -> Served {
    serve_with(devs, params, Config::default())
}

/// Start a coordinator with these limits.
pub fn serve_with(devs: &[&str], params: Params, config: Config) -> Served {
    serve_over(devs, params, config, |a| a)
}

/// Start a coordinator whose artifact store is `wrap` of the real one (to inject faults).
pub fn serve_over(
    devs: &[&str],
    params: Params,
    config: Config,
    wrap: impl FnOnce(Arc<dyn ArtifactStore>) -> Arc<dyn ArtifactStore>,
) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir(dir.path().join("data"));
    let names: Vec<String> = devs.iter().map(|s| s.to_string()).collect();
    let now = SystemClock.now_ms();
    let init = datadir::init(
        &data,
        &LogLocation::DataDir,
        "test-chain",
        params,
        &names,
        Amount(1_000_000),
        now,
    )
    .unwrap();
    let mut keys = BTreeMap::new();
    for (name, _, path) in &init.dev {
        keys.insert(name.clone(), DataDir::read_key(path).unwrap());
    }
    let clock = ManualClock::at(now);
    let store = Arc::new(SqliteLog::open(&data.log()).unwrap());
    let artifacts = wrap(Arc::new(LocalArtifacts::open(&data.artifacts()).unwrap()));
    let staging = Staging::open(&data.tmp()).unwrap();
    let operator = DataDir::read_key(&data.key("operator")).unwrap();
    let (header_timeout, per_client) = (config.header_timeout, config.connections_per_client);
    let node = Node::start(
        store,
        artifacts,
        staging,
        Arc::new(clock.clone()),
        Some(operator),
        config,
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = routes::router(Arc::clone(&node));
    runtime.spawn(server::serve(
        listener,
        router,
        header_timeout,
        per_client,
        std::future::pending(),
    ));
    Served {
        client: Client::new(&url),
        url,
        node,
        clock,
        dir,
        keys,
        chain_id: "test-chain".into(),
        runtime,
    }
}

/// The bundled digits split into public training and hidden parts (once),
/// and the hidden part's example count.
fn digits_split() -> &'static (Vec<u8>, Vec<u8>, u32) {
    static SPLIT: std::sync::OnceLock<(Vec<u8>, Vec<u8>, u32)> = std::sync::OnceLock::new();
    SPLIT.get_or_init(|| {
        let split = datasets::bundled::split("digits", datasets::bundled::DEFAULT_SEED).unwrap();
        let examples = split.hidden.examples() as u32;
        (split.train.to_bytes(), split.hidden.to_bytes(), examples)
    })
}

/// The bundled digits, split into public training and hidden parts.
pub fn digits() -> (Vec<u8>, Vec<u8>) {
    let (train, hidden, _) = digits_split();
    (train.clone(), hidden.clone())
}

/// A digits bounty spec over these datasets.
pub fn digits_spec(train: Hash32, hidden: Hash32, deadline_ms: u64, quorum: u8) -> BountySpec {
    let examples = digits_split().2;
    let deposit = 100 * u32::from(quorum);
    let text = format!(
        r#"
title = "Handwritten digits, 8x8"
description = "Classify digits <b>well</b>."
task = "classification"
train-dataset = "{train}"
hidden-dataset = "{hidden}"
hidden-examples = {examples}
submission-deposit = "{deposit}"
reward = "100000"
evaluation-budget = "4000"
fee-per-receipt = "100"
quorum = {quorum}
max-submissions-per-miner = 3
deadline-ms = {deadline_ms}

[architecture]
family = "mlp"
max-parameters = 200000

[judging]
metric = "accuracy"
baseline = 50000
min-improvement = 1000

[payout]
rule = "winner-take-all"

[licence]
name = "UDL-1.0"
commercial-use = "allowed-with-fee"
fee = "5000"
derivation = {{ terms = "allowed-with-revenue-share", share-bps = 1500 }}

[royalties]
contributors-bps = 7000
sponsor-bps = 3000
"#
    );
    let spec: BountySpec = toml::from_str(&text).unwrap();
    spec.check().unwrap();
    spec
}

/// A seeded random mlp for digits, with its licence tags.
pub fn model(seed: &str) -> Vec<u8> {
    let arch = "mlp:64,32,10".parse().unwrap();
    evaluator::synthetic::model_file(&arch, seed)
}

/// Score a model file on a dataset file with the real evaluator.
pub fn receipt(model: &Path, dataset: &Path, submission: u64) -> bounties::Receipt {
    let bytes = std::fs::read(model).unwrap();
    let m = evaluator::model::Model::from_bytes(&bytes, Default::default()).unwrap();
    let data_bytes = std::fs::read(dataset).unwrap();
    let data = datasets::Dataset::from_bytes(&data_bytes, "hidden").unwrap();
    let metric = evaluator::score::default_metric(data.task());
    let scored = evaluator::score::score(&m, &data, metric, 1).unwrap();
    let weights = bounties::tensorfile::TensorFile::parse(&bytes)
        .unwrap()
        .weights_hash();
    evaluator::receipt::make(
        &scored,
        bounties::SubmissionId(submission),
        // A bounty commits to its hidden set by the file's SHA-256 (its artifact name).
        bounties::encoding::sha256(&data_bytes),
        weights,
        None,
    )
    .receipt
}

pub fn tmp_path(s: &Served, name: &str) -> PathBuf {
    s.dir.path().join(name)
}

/// Signed-request headers for a raw HTTP request.
pub fn auth_headers(s: &Served, who: &str, method: &str, path: &str) -> String {
    let key = s.key(who);
    let ts = bounties_client::request_timestamp_ms();
    let sig = bounties::auth::sign_request(key, &s.chain_id, method, path, ts);
    format!(
        "x-bounty-account: {}\r\nx-bounty-timestamp: {ts}\r\nx-bounty-signature: {}\r\n",
        key.account(),
        sig.to_hex()
    )
}

/// Files under a directory, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Upload a seeded model as `miner` and submit it; (submission, file hash, weights hash).
pub fn submit_model(
    s: &Served,
    miner: &str,
    bounty: bounties::BountyId,
    seed: &str,
) -> (u64, Hash32, Hash32) {
    let bytes = model(seed);
    let file_hash = s.upload(miner, &format!("model-{miner}-{seed}"), &bytes);
    let weights_hash = bounties::tensorfile::TensorFile::parse(&bytes)
        .unwrap()
        .weights_hash();
    let at = s
        .client
        .act(
            s.key(miner),
            bounties::Action::Submit {
                bounty,
                file_hash,
                weights_hash,
                parent_weights_hash: None,
            },
        )
        .unwrap();
    (at.seq().unwrap(), file_hash, weights_hash)
}

/// Open a digits bounty (quorum 1), submit two models from `alice` and
/// `bob`, score both as `eve`, and close it by the scheduler.
/// A digits bounty opened by "sponsor" (who uploads both parts), with this
/// quorum and a deadline a minute away on the server's clock.
pub struct Opened {
    pub bounty: bounties::BountyId,
    pub hidden: Hash32,
    pub deadline: u64,
}

pub fn open_digits(s: &Served, quorum: u8) -> Opened {
    let (train, hidden) = digits();
    let train_hash = s.upload("sponsor", "train", &train);
    let hidden_hash = s.upload("sponsor", "hidden", &hidden);
    let deadline = s.clock.now_ms() + 60_000;
    let opened = s
        .client
        .act(
            s.key("sponsor"),
            bounties::Action::OpenBounty {
                spec: Box::new(digits_spec(train_hash, hidden_hash, deadline, quorum)),
            },
        )
        .unwrap();
    Opened {
        bounty: bounties::BountyId(opened.seq().unwrap()),
        hidden: hidden_hash,
        deadline,
    }
}

/// Register `who` as an evaluator with a bond of 5000.
pub fn register(s: &Served, who: &str) {
    s.client
        .act(
            s.key(who),
            bounties::Action::RegisterEvaluator {
                bond: Amount(5_000),
            },
        )
        .unwrap();
}

pub fn closed_bounty(s: &Served) -> bounties::BountyId {
    use bounties::Action;
    let c = &s.client;
    let Opened {
        bounty, deadline, ..
    } = open_digits(s, 1);
    for (miner, seed) in [("alice", "a"), ("bob", "b")] {
        submit_model(s, miner, bounty, seed);
        s.clock.advance(1_000);
    }
    register(s, "eve");
    s.clock.set(deadline + 1);
    assert!(s.tick().is_empty(), "submissions end; nothing is final yet");
    while let Some(job) = c.lease(s.key("eve"), &s.chain_id).unwrap() {
        let sid = job.lease.submission.0;
        let m = tmp_path(s, "m");
        let d = tmp_path(s, "d");
        c.download(Some(s.key("eve")), &s.chain_id, &job.lease.model, &m)
            .unwrap();
        c.download(Some(s.key("eve")), &s.chain_id, &job.lease.dataset, &d)
            .unwrap();
        c.act(s.key("eve"), Action::PostReceipt(receipt(&m, &d, sid)))
            .unwrap();
    }
    s.clock.advance(s.node.state().params().dispute_window_ms);
    assert_eq!(s.tick(), vec![bounty]);
    bounty
}
