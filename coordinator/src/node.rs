//! The running service's shared parts: store, writer, artifacts, staging,
//! leases, clock, metrics and limits. Handlers, the scheduler and tests use a [`Node`].
//! It knows no HTTP: it fails with a [`NodeError`], which `error.rs` maps to a
//! response.
//!
//! A node either leads (its sequencer writes the log) or follows (another
//! front-end's sequencer writes; this one applies what the store holds and
//! passes writes on through a [`Forward`]). Either way it serves the state
//! it has applied, published through one watch channel.

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::artifacts::BoxFuture;
use bounties::{Action, Hash32, Message, SecretKey, SignedMessage, State, encoding};
use tokio::sync::watch;

use crate::artifacts::ArtifactError;
use crate::artifacts::ArtifactStore;
use crate::auth::{ReplayGuard, SeenRequests};
use crate::clock::Clock;
use crate::ingest::UploadSlots;
use crate::jobs::{LeaseBook, MemoryLeases};
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
    /// The log's writer answered a passed-on write with an error: it is
    /// passed back as it came.
    #[error("{message}")]
    Leader {
        /// Its HTTP status.
        status: u16,
        /// Its stable code.
        code: String,
        /// Its message.
        message: String,
    },
    /// No writer could be reached now (a takeover in progress): the write
    /// was not passed on, so nothing was appended; retry.
    #[error("the log's writer cannot be reached now ({0}); retry shortly")]
    NoLeader(String),
    /// The write was passed to the writer, which went away before it
    /// answered: it may or may not have been appended. The account's nonce
    /// says which; sending the same signed bytes again is safe either way.
    #[error(
        "the log's writer went away before answering ({0}): the message may have been appended; \
         check the signer's nonce, or send the same signed message again"
    )]
    LeaderLost(String),
}

/// How a follower passes a write to the log's writer.
pub trait Forward: Send + Sync + 'static {
    /// Append `signed` through the writer: its acknowledgement, or its
    /// refusal as [`NodeError::Leader`].
    fn forward(&self, signed: SignedMessage) -> BoxFuture<'_, Result<Appended, NodeError>>;
}

/// How a node starts.
#[allow(missing_debug_implementations)]
pub enum Start {
    /// As the log's writer: its sequencer starts at once.
    Lead,
    /// As a follower passing writes through this.
    Follow(Arc<dyn Forward>),
}

/// What a node is made of.
#[allow(missing_debug_implementations)]
pub struct Parts {
    /// The log store.
    pub store: Arc<dyn LogStore>,
    /// Models and datasets.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Where uploads are received.
    pub staging: Staging,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Signs scheduler messages (none: the scheduler cannot close bounties).
    pub operator: Option<SecretKey>,
    /// Limits.
    pub config: Config,
    /// Signed requests already seen.
    pub replay_guard: Arc<dyn SeenRequests>,
    /// Evaluation leases.
    pub leases: Arc<dyn LeaseBook>,
}

impl Parts {
    /// The parts of a node alone on its store: signed requests remembered
    /// in memory from the clock's now, and leases in memory.
    pub fn alone(
        store: Arc<dyn LogStore>,
        artifacts: Arc<dyn ArtifactStore>,
        staging: Staging,
        clock: Arc<dyn Clock>,
        operator: Option<SecretKey>,
        config: Config,
    ) -> Parts {
        let replay_guard = Arc::new(ReplayGuard::new(clock.now_ms(), crate::auth::SEEN_MAX));
        Parts {
            store,
            artifacts,
            staging,
            clock,
            operator,
            config,
            replay_guard,
            leases: Arc::new(MemoryLeases::default()),
        }
    }
}

/// Who writes the log for this node now.
#[derive(Clone)]
enum Writer {
    Leads(Sequencer),
    Follows(Arc<dyn Forward>),
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
    writer: RwLock<Writer>,
    /// Whether this node leads (a watch, so a write can wait for a takeover).
    leading: watch::Sender<bool>,
    /// The state this node serves: the sequencer's commits while it leads,
    /// the store's entries as applied while it follows.
    head: watch::Sender<Arc<State>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Models and datasets.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Evaluation leases (this front-end's, or all front-ends').
    pub leases: Arc<dyn LeaseBook>,
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
        let parts = Parts::alone(store, artifacts, staging, clock, operator, config);
        Node::open(parts, Start::Lead)
    }

    /// Replay the log and start as `start` says.
    pub fn open(parts: Parts, start: Start) -> Result<Arc<Node>, RecoverError> {
        let state = recover(parts.store.as_ref())?;
        let metrics = Arc::new(Metrics::default());
        metrics.set_head(state.head().seq);
        let (head, _) = watch::channel(Arc::new(state));
        let leads = matches!(start, Start::Lead);
        let writer = match start {
            // A placeholder, replaced before anyone can append.
            Start::Lead => Writer::Follows(Arc::new(Starting)),
            Start::Follow(forward) => Writer::Follows(forward),
        };
        let node = Arc::new(Node {
            config: parts.config,
            store: parts.store,
            writer: RwLock::new(writer),
            leading: watch::channel(false).0,
            head,
            clock: parts.clock,
            artifacts: parts.artifacts,
            leases: parts.leases,
            metrics,
            replay_guard: parts.replay_guard,
            uploads: UploadSlots::default(),
            staging: parts.staging,
            publications: Verdicts::default(),
            operator: parts.operator,
            root_cache: Mutex::new(None),
        });
        if leads {
            let state = State::clone(&node.state());
            // Detached: the thread ends when the node (its sender) goes.
            drop(node.lead(state));
        }
        Ok(node)
    }

    /// Become the log's writer from `state` (everything the store holds,
    /// applied): the sequencer starts, and appends go to it. Returns its
    /// thread, which ends when it stops (deposed, or the node follows again).
    pub fn lead(&self, state: State) -> JoinHandle<()> {
        let (sequencer, thread) = Sequencer::start(
            Arc::clone(&self.store),
            state,
            self.head.clone(),
            Arc::clone(&self.clock),
            Arc::clone(&self.metrics),
            self.config.snapshot_every,
        );
        *self.writer.write().expect("lock") = Writer::Leads(sequencer);
        self.leading.send_replace(true);
        thread
    }

    /// Pass appends to `forward` from now on; the sequencer, if this node
    /// led, stops once the appends in flight are answered (join the thread
    /// [`Node::lead`] returned before publishing states of the store's).
    pub fn follow(&self, forward: Arc<dyn Forward>) {
        *self.writer.write().expect("lock") = Writer::Follows(forward);
        self.leading.send_replace(false);
    }

    /// Whether this node writes the log now.
    pub fn leads(&self) -> bool {
        matches!(*self.writer.read().expect("lock"), Writer::Leads(_))
    }

    /// Serve `state` (a follower's, applied from the store), unless this
    /// node already serves one as far along.
    pub fn publish(&self, state: State) -> bool {
        let seq = state.head().seq;
        let newer = self.head.send_if_modified(|current| {
            if seq > current.head().seq {
                *current = Arc::new(state);
                true
            } else {
                false
            }
        });
        if newer {
            self.metrics.set_head(seq);
        }
        newer
    }

    /// The latest state this node serves.
    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.head.borrow())
    }

    /// A receiver that sees every state this node serves.
    pub fn watch(&self) -> watch::Receiver<Arc<State>> {
        self.head.subscribe()
    }

    /// Wait up to `wait` until this node serves the entry at `seq`.
    pub async fn caught_up_to(&self, seq: u64, wait: Duration) -> bool {
        let mut states = self.watch();
        tokio::time::timeout(wait, states.wait_for(|s| s.head().seq >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
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
    /// applied by the sequencer; returns once it is durable. A follower
    /// passes it to the writer and returns once it serves the entry itself
    /// (or after [`FOLLOWER_CATCH_UP`], the entry durable all the same), so
    /// a client reads its own writes from the front-end it wrote through.
    pub async fn append(&self, signed: SignedMessage) -> Result<Appended, NodeError> {
        let sequencer = loop {
            let writer = self.writer.read().expect("lock").clone();
            let forward = match writer {
                Writer::Leads(sequencer) => break sequencer,
                Writer::Follows(forward) => forward,
            };
            let decoded = encoding::decode::<Message>(&signed.message).ok();
            let receipt = decoded.as_ref().and_then(receipt_of);
            match forward.forward(signed.clone()).await {
                Ok(appended) => {
                    if !self.caught_up_to(appended.seq, FOLLOWER_CATCH_UP).await {
                        tracing::warn!(
                            seq = appended.seq,
                            "acknowledged before this follower applied it"
                        );
                    }
                    self.complete_lease(receipt).await;
                    return Ok(appended);
                }
                // Not passed on, and no other writer: this node may be the
                // one taking over. (A write passed on and unanswered is not
                // retried here: it may have been appended.)
                Err(NodeError::NoLeader(why)) => {
                    let mut leading = self.leading.subscribe();
                    let took_over = tokio::time::timeout(TAKEOVER_WAIT, leading.wait_for(|l| *l));
                    if !matches!(took_over.await, Ok(Ok(_))) {
                        return Err(NodeError::NoLeader(why));
                    }
                }
                Err(e) => return Err(e),
            }
        };
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
        let receipt = decoded.as_ref().and_then(receipt_of);
        let appended = sequencer.append(signed).await?;
        self.complete_lease(receipt).await;
        Ok(appended)
    }

    /// A posted receipt ends its evaluator's lease.
    async fn complete_lease(&self, receipt: Option<(bounties::AccountId, bounties::SubmissionId)>) {
        if let Some((evaluator, submission)) = receipt
            && let Err(e) = self.leases.complete(evaluator, submission).await
        {
            // The receipt is in the log; the lease lapses on its own.
            tracing::warn!(%evaluator, %submission, error = %e, "could not end a lease");
        }
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

/// How long a follower waits to serve an entry it passed on before it
/// acknowledges anyway.
pub const FOLLOWER_CATCH_UP: Duration = Duration::from_secs(5);

/// How long a write that found no other writer waits for this node to take over.
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);

/// The evaluator and submission of a `PostReceipt`.
fn receipt_of(message: &Message) -> Option<(bounties::AccountId, bounties::SubmissionId)> {
    match &message.action {
        Action::PostReceipt(r) => Some((message.signer, r.submission)),
        _ => None,
    }
}

/// The writer of a node whose sequencer has not started yet.
struct Starting;

impl Forward for Starting {
    fn forward(&self, _: SignedMessage) -> BoxFuture<'_, Result<Appended, NodeError>> {
        Box::pin(std::future::ready(Err(NodeError::Stopped)))
    }
}
