//! `coordinator`: initialise a data dir, serve the API, audit a log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bounties::{Amount, Params};
use clap::{Parser, Subcommand};
use coordinator::artifacts::s3::S3Artifacts;
use coordinator::artifacts::{ArtifactLocation, ArtifactStore, LocalArtifacts};
use coordinator::clock::{Clock, SystemClock};
use coordinator::datadir::{self, DataDir};
use coordinator::logging::LogFormat;
use coordinator::node::{Config, Node, Parts};
use coordinator::staging::Staging;
use coordinator::store::postgres::PostgresLog;
use coordinator::store::{LogLocation, LogStore};
use coordinator::{audit, cluster, routes, scheduler, server};

#[derive(Parser)]
#[command(
    version,
    about = "The model-bounties coordinator: one ordered, hash-chained log and the services around it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data dir: genesis, operator and minter keys (0600), dev accounts.
    Init {
        /// Where to keep the log, artifacts and keys.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where the log lives: `sqlite` (the data dir's log.sqlite) or a
        /// postgres://USER@HOST:PORT/DB URL.
        #[arg(long, default_value = "sqlite", env = "COORDINATOR_STORE")]
        store: LogLocation,
        /// The chain id every message must name.
        #[arg(long, default_value = "model-bounties-dev")]
        chain_id: String,
        /// Create and fund a named dev account (repeatable): keys/dev/NAME.key.
        #[arg(long, num_args = 1..)]
        dev: Vec<String>,
        /// Each dev account's starting balance.
        #[arg(long, default_value = "1000000")]
        dev_balance: Amount,
        /// How long after a deadline a close waits for pending evaluations (seconds).
        #[arg(long, default_value_t = 3600)]
        close_grace_secs: u64,
        /// The least evaluator bond.
        #[arg(long, default_value = "1000")]
        min_evaluator_bond: Amount,
        /// How long after a score becomes final other evaluators may contest it (seconds).
        #[arg(long, default_value_t = 600)]
        dispute_window_secs: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API and web pages, run the sequencer and the scheduler.
    Serve {
        /// The data dir made by `init`.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where the log lives: `sqlite` (the data dir's log.sqlite) or a
        /// postgres://USER@HOST:PORT/DB URL.
        #[arg(long, default_value = "sqlite", env = "COORDINATOR_STORE")]
        store: LogLocation,
        /// Where artifacts live: `dir` (the data dir's artifacts/) or an
        /// S3-compatible bucket, s3://BUCKET?endpoint=http://HOST:PORT
        /// (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
        #[arg(long, default_value = "dir", env = "COORDINATOR_ARTIFACTS")]
        artifacts: ArtifactLocation,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the other front-ends on the same PostgreSQL log reach this
        /// one, to pass it writes while it leads (default: http://ADDRESS
        /// it listens on).
        #[arg(long)]
        advertise_url: Option<String>,
        /// The largest artifact accepted, in bytes.
        #[arg(long, default_value_t = 4 << 30)]
        max_artifact_bytes: u64,
        /// Uploads one client address may have in progress.
        #[arg(long, default_value_t = 4)]
        uploads_per_client: usize,
        /// How long an evaluation lease lasts (seconds).
        #[arg(long, default_value_t = 600)]
        lease_ttl_secs: u64,
        /// Record a start-up snapshot every this many entries.
        #[arg(long, default_value_t = 10_000)]
        snapshot_every: u64,
        /// Drop a client that has not sent its request headers within this (seconds).
        #[arg(long, default_value_t = 10)]
        header_timeout_secs: u64,
        /// A request body must arrive whole within this (seconds); an upload
        /// gets this plus its size at the slowest upload rate.
        #[arg(long, default_value_t = 30)]
        body_deadline_secs: u64,
        /// The slowest upload rate allowed over a whole upload (bytes per second).
        #[arg(long, default_value_t = 256 * 1024)]
        upload_min_rate: u64,
        /// Connections one client address may hold open at once.
        #[arg(long, default_value_t = 128)]
        connections_per_client: usize,
        /// How the service logs (to stderr; `RUST_LOG` filters, default `info`).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Replay a log from scratch and check every signature, link and state root.
    /// Replay this data dir's log from scratch and check every signature,
    /// link, rule and balance (`bounty --coordinator URL audit` audits a running one).
    Audit {
        /// The data dir whose log to audit.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where the log lives: `sqlite` (the data dir's log.sqlite) or a
        /// postgres://USER@HOST:PORT/DB URL.
        #[arg(long, default_value = "sqlite", env = "COORDINATOR_STORE")]
        store: LogLocation,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Print a line; a reader that closed the pipe (`| head -1`) is not an error.
fn print_or_pipe_closed(text: &str) -> Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            data_dir,
            store,
            chain_id,
            dev,
            dev_balance,
            close_grace_secs,
            min_evaluator_bond,
            dispute_window_secs,
            json,
        } => {
            let params = Params {
                close_grace_ms: close_grace_secs.saturating_mul(1000),
                min_evaluator_bond,
                dispute_window_ms: dispute_window_secs.saturating_mul(1000),
                ..Params::default()
            };
            let done = datadir::init(
                &DataDir(data_dir.clone()),
                &store,
                &chain_id,
                params,
                &dev,
                dev_balance,
                SystemClock.now_ms(),
            )
            .with_context(|| format!("initialising {} (log: {store})", data_dir.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                println!("initialised {}", data_dir.display());
                println!("chain id  {}", done.chain_id);
                println!("operator  {}", done.operator);
                println!("minter    {}", done.minter);
                for (name, account, path) in &done.dev {
                    println!("dev {name:<8} {account}  {}", path.display());
                }
                println!("genesis   {}", done.genesis_hash);
            }
            Ok(())
        }
        Command::Serve {
            data_dir,
            store,
            artifacts,
            listen,
            advertise_url,
            max_artifact_bytes,
            uploads_per_client,
            lease_ttl_secs,
            snapshot_every,
            header_timeout_secs,
            body_deadline_secs,
            upload_min_rate,
            connections_per_client,
            log_format,
        } => {
            coordinator::logging::init(log_format);
            let config = Config {
                max_artifact_bytes,
                uploads_per_client,
                lease_ttl_ms: lease_ttl_secs.saturating_mul(1000),
                snapshot_every,
                header_timeout: Duration::from_secs(header_timeout_secs),
                body_deadline: Duration::from_secs(body_deadline_secs),
                upload_min_bytes_per_sec: upload_min_rate,
                connections_per_client,
                ..Config::default()
            };
            let at = Where {
                store,
                artifacts,
                listen,
                advertise_url,
            };
            serve(DataDir(data_dir), at, config)
        }
        Command::Audit {
            data_dir,
            store,
            json,
        } => {
            let store = datadir::open_existing_log(&DataDir(data_dir), &store)
                .with_context(|| format!("opening the log at {store}"))?;
            let report = audit::audit_store(store.as_ref()).context("audit failed")?;
            let text = if json {
                serde_json::to_string_pretty(&report)?
            } else {
                report.to_string()
            };
            print_or_pipe_closed(&text)
        }
    }
}

/// Where `serve` keeps things and listens.
struct Where {
    store: LogLocation,
    artifacts: ArtifactLocation,
    listen: String,
    advertise_url: Option<String>,
}

#[tokio::main]
async fn serve(dir: DataDir, at: Where, config: Config) -> Result<()> {
    let Where {
        store: location,
        artifacts,
        listen,
        advertise_url: advertise,
    } = at;
    let location = &location;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    let artifacts: Arc<dyn ArtifactStore> = match &artifacts {
        ArtifactLocation::DataDir => {
            Arc::new(LocalArtifacts::open(&dir.artifacts()).context("opening the artifact store")?)
        }
        ArtifactLocation::S3(url) => Arc::new(
            S3Artifacts::open(url, None)
                .with_context(|| format!("opening the artifact store at {artifacts}"))?,
        ),
    };
    let operator = DataDir::read_key(&dir.key("operator"))?;
    let (header_timeout, per_client) = (config.header_timeout, config.connections_per_client);
    let started = std::time::Instant::now();
    let node = match location {
        LogLocation::DataDir => {
            let store = datadir::open_log(&dir, location)
                .with_context(|| format!("opening the log at {location}"))?;
            let staging = Staging::open(&dir.tmp()).context("opening the upload staging dir")?;
            Node::start(
                store,
                artifacts,
                staging,
                Arc::new(SystemClock),
                Some(operator),
                config,
            )?
        }
        LogLocation::Postgres(url) => {
            let log = Arc::new(
                PostgresLog::open(url).with_context(|| format!("opening the log at {location}"))?,
            );
            // Front-ends sharing a data dir each stage uploads apart (each
            // empties its staging dir at start).
            let staging_dir = dir
                .tmp()
                .join(address.to_string().replace([':', '[', ']'], "_"));
            let staging = Staging::open(&staging_dir).context("opening the upload staging dir")?;
            let parts = Parts::alone(
                Arc::clone(&log) as Arc<dyn LogStore>,
                artifacts,
                staging,
                Arc::new(SystemClock),
                Some(operator),
                config,
            );
            let url = advertise.unwrap_or_else(|| format!("http://{address}"));
            cluster::join(parts, log, url)?
        }
    };
    let state = node.state();
    tracing::info!(
        entries = state.head().seq + 1,
        chain = state.chain_id(),
        seconds = started.elapsed().as_secs_f64(),
        state_root = %node.root(&state),
        "replayed the log"
    );
    println!("listening on http://{address}");
    tokio::spawn(scheduler::run(Arc::clone(&node)));
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    server::serve(
        listener,
        routes::router(node),
        header_timeout,
        per_client,
        shutdown,
    )
    .await;
    Ok(())
}
