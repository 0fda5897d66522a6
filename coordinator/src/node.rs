//! The running service's shared parts: store, sequencer, artifacts, staging,
//! leases, clock, metrics and limits. Handlers, the scheduler and tests use a [`Node`].
//! It knows no HTTP: it fails with a [`NodeError`], which `error.rs` maps to a
//! response.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bounties::{Action, Hash32, Message, SecretKey, SignedMessage, State, encoding};

use crate::artifacts::ArtifactError;
use crate::artifacts::ArtifactStore;
use crate::auth::{ReplayGuard, SeenRequests};
use crate::clock::Clock;
use crate::ingest::UploadSlots;
use crate::jobs::Leases;
use crate::metrics::Metrics;
use crate::publication::{PublicationError, Verdicts};
use crate::sequencer::{AppendError, Appended, RecoverError, Sequencer, recover};
use crate::staging::Staging;
use crate::store::{LogStore, StoreError};

/// Why the service refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The protocol refused the message; nothing changed.
    #[error(transparent)]
    Rejected(#[from] bounties::Rejection),
    /// A `Submit` naming a file its signer has not uploaded here.
    #[error("upload the model file {file} (signed by {signer}) before submitting it")]
    NotUploaded {
        /// The file named.
        file: Hash32,
        /// The submitter.
        signer: bounties::AccountId,
    },
    /// A `PublishModel` the stored bytes do not bear out.
    #[error(transparent)]
    Publication(#[from] PublicationError),
    /// The scheduler has no operator key to sign with.
    #[error("no operator key loaded")]
    NoOperatorKey,
    /// The log store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    /// The sequencer is shutting down.
    #[error("the service is shutting down")]
    Stopped,
}

impl From<AppendError> for NodeError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Rejected(r) => NodeError::Rejected(r),
            AppendError::Store(s) => NodeError::Store(s),
            AppendError::Stopped => NodeError::Stopped,
        }
    }
}

/// Limits and intervals.
#[derive(Clone, Debug)]
pub struct Config {
    /// The largest artifact accepted.
    pub max_artifact_bytes: u64,
    /// The largest dataset accepted (datasets are checked in memory).
    pub max_dataset_bytes: u64,
    /// Uploads one client address may have in progress.
    pub uploads_per_client: usize,
    /// How long an evaluation lease lasts.
    pub lease_ttl_ms: u64,
    /// A snapshot every this many entries.
    pub snapshot_every: u64,
    /// A client must finish sending request headers within this.
    pub header_timeout: Duration,
    /// An upload may pause this long between chunks.
    pub body_idle_timeout: Duration,
    /// A JSON request body must arrive whole within this; an upload gets this
    /// plus its size at [`Config::upload_min_bytes_per_sec`].
    pub body_deadline: Duration,
    /// The slowest upload rate allowed over a whole upload.
    pub upload_min_bytes_per_sec: u64,
    /// Connections one client address may hold open at once.
    pub connections_per_client: usize,
    /// How often the scheduler looks for deadlines.
    pub scheduler_tick: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_artifact_bytes: 4 << 30,
            max_dataset_bytes: 256 << 20,
            uploads_per_client: 4,
            lease_ttl_ms: 10 * 60 * 1000,
            snapshot_every: 10_000,
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_deadline: Duration::from_secs(30),
            upload_min_bytes_per_sec: 256 * 1024,
            connections_per_client: 128,
            scheduler_tick: Duration::from_secs(1),
        }
    }
}

/// The service.
#[allow(missing_debug_implementations)]
pub struct Node {
    /// Limits.
    pub config: Config,
    /// The log store.
    pub store: Arc<dyn LogStore>,
    /// The writer.
    pub sequencer: Sequencer,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Models and datasets.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Evaluation leases.
    pub leases: Mutex<Leases>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Signed requests already seen (by this front-end, or by all of them).
    pub replay_guard: Arc<dyn SeenRequests>,
    /// Uploads in progress, per client address.
    pub uploads: UploadSlots,
    /// Where uploads are received before they are stored.
    pub staging: Staging,
    /// Model files already checked for publication.
    pub publications: Verdicts,
    operator: Option<SecretKey>,
    root_cache: Mutex<Option<(u64, Hash32)>>,
}

impl Node {
    /// Replay the log in `store` and start the sequencer. `operator` signs
    /// scheduler messages (none: the scheduler cannot close bounties).
    /// Signed requests are remembered in memory, from the clock's now.
    pub fn start(
        store: Arc<dyn LogStore>,
        artifacts: Arc<dyn ArtifactStore>,
        staging: Staging,
        clock: Arc<dyn Clock>,
        operator: Option<SecretKey>,
        config: Config,
    ) -> Result<Arc<Node>, RecoverError> {
        let guard = Arc::new(ReplayGuard::new(clock.now_ms(), crate::auth::SEEN_MAX));
        Node::start_with_guard(store, artifacts, staging, clock, operator, config, guard)
    }

    /// [`Node::start`] with signed requests remembered in `replay_guard`
    /// (the guard front-ends on one database share).
    pub fn start_with_guard(
        store: Arc<dyn LogStore>,
        artifacts: Arc<dyn ArtifactStore>,
        staging: Staging,
        clock: Arc<dyn Clock>,
        operator: Option<SecretKey>,
        config: Config,
        replay_guard: Arc<dyn SeenRequests>,
    ) -> Result<Arc<Node>, RecoverError> {
        let state = recover(store.as_ref())?;
        let metrics = Arc::new(Metrics::default());
        metrics.set_head(state.head().seq);
        let (sequencer, _thread) = Sequencer::start(
            Arc::clone(&store),
            state,
            Arc::clone(&clock),
            Arc::clone(&metrics),
            config.snapshot_every,
        );
        Ok(Arc::new(Node {
            config,
            store,
            sequencer,
            clock,
            artifacts,
            leases: Mutex::new(Leases::default()),
            metrics,
            replay_guard,
            uploads: UploadSlots::default(),
            staging,
            publications: Verdicts::default(),
            operator,
            root_cache: Mutex::new(None),
        }))
    }

    /// The latest committed state.
    pub fn state(&self) -> Arc<State> {
        self.sequencer.state()
    }

    /// The state root of `state`, computed once per head.
    pub fn root(&self, state: &State) -> Hash32 {
        let seq = state.head().seq;
        let mut cache = self.root_cache.lock().expect("lock");
        match *cache {
            Some((s, root)) if s == seq => root,
            _ => {
                let root = state.root();
                *cache = Some((seq, root));
                root
            }
        }
    }

    /// Append a signed message (any action) to the log: checked, ordered and
    /// applied by the sequencer; returns once it is durable.
    pub async fn append(&self, signed: SignedMessage) -> Result<Appended, NodeError> {
        let decoded = encoding::decode::<Message>(&signed.message).ok();
        // A submission must name a file its miner uploaded here, so that
        // evaluators can fetch it: a hash alone is neither a model nor a claim.
        if let Some(Message {
            signer,
            action: Action::Submit { file_hash, .. },
            ..
        }) = &decoded
        {
            let owners = self.artifacts.owners(*file_hash).await?;
            let stored = self.artifacts.size(*file_hash).await?.is_some();
            if !stored || !owners.contains(signer) {
                return Err(NodeError::NotUploaded {
                    file: *file_hash,
                    signer: *signer,
                });
            }
        }
        if let Some(Message {
            signer,
            action: Action::PublishModel(p),
            ..
        }) = &decoded
        {
            self.publications
                .check(self.artifacts.as_ref(), *signer, p)
                .await?;
        }
        let receipt = decoded.and_then(|m| match m.action {
            Action::PostReceipt(r) => Some((m.signer, r.submission)),
            _ => None,
        });
        let appended = self.sequencer.append(signed).await?;
        if let Some((evaluator, submission)) = receipt {
            self.leases
                .lock()
                .expect("lock")
                .complete(&evaluator, submission);
        }
        Ok(appended)
    }

    /// Sign `action` as the operator with its next nonce and append it.
    pub async fn append_as_operator(&self, action: Action) -> Result<Appended, NodeError> {
        let key = self.operator.as_ref().ok_or(NodeError::NoOperatorKey)?;
        let state = self.state();
        let message = Message {
            chain_id: state.chain_id().to_owned(),
            signer: key.account(),
            nonce: state.nonce(&key.account()) + 1,
            action,
        };
        self.append(message.sign(key)).await
    }
}
