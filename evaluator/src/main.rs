//! `evaluator`: score models deterministically and verify receipts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bounties::keys::SecretKey;
use bounties::spec::Metric;
use bounties::{Hash32, Score, SubmissionId};
use clap::{Parser, Subcommand, ValueEnum};
use datasets::Dataset;
use evaluator::model::{Limits, Model};
use evaluator::receipt::{self, SignedReceipt};
use evaluator::score::{self, Scored};

/// Deterministic scoring: the same bits on every CPU and thread count.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Score a model file on a dataset file and print the receipt.
    Score {
        #[command(flatten)]
        scoring: ScoringArgs,
        /// The submission id to name in the receipt.
        #[arg(long, default_value_t = 0)]
        submission: u64,
        /// Most parameters allowed.
        #[arg(long)]
        max_parameters: Option<u64>,
        /// Sign the receipt with this key file (64 hex characters: the seed).
        #[arg(long, env = "BOUNTY_KEY")]
        key: Option<PathBuf>,
        /// Write the receipt (JSON) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the receipt as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Recompute a receipt and compare it bit for bit; says which part differs.
    /// Register as an evaluator: lock a bond (the protocol's minimum or more).
    Register {
        /// The bond to lock, in base units.
        #[arg(long, default_value = "1000")]
        bond: bounties::Amount,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lease jobs, download, check hashes, score, post receipts, repeat.
    /// Survives coordinator restarts; Ctrl-C stops between jobs.
    Work {
        #[command(flatten)]
        remote: Remote,
        /// Where downloaded models and hidden sets are kept.
        #[arg(long, env = "BOUNTY_CACHE")]
        cache: Option<PathBuf>,
        /// Worker threads for scoring.
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Seconds between polls when there is no job.
        #[arg(long, default_value_t = 2.0)]
        poll: f64,
        /// Exit once no job is left (scripts, demos).
        #[arg(long)]
        until_idle: bool,
        /// Print one JSON object per job.
        #[arg(long)]
        json: bool,
    },
    Verify {
        /// The receipt file (JSON, as `score --out` writes it).
        receipt: PathBuf,
        #[command(flatten)]
        scoring: ScoringArgs,
    },
}

/// What to score, shared by `score` and `verify`.
/// The coordinator and your key.
#[derive(clap::Args, Debug)]
struct Remote {
    /// The coordinator's URL.
    #[arg(
        long,
        env = "BOUNTY_COORDINATOR",
        default_value = "http://127.0.0.1:8080"
    )]
    coordinator: String,
    /// Your key file.
    #[arg(long, env = "BOUNTY_KEY")]
    key: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ScoringArgs {
    /// The model (safetensors with an Architecture tag).
    #[arg(long)]
    model: PathBuf,
    /// The dataset: a dataset file, or a bundled name such as `digits:hidden`.
    #[arg(long)]
    dataset: String,
    /// The metric; defaults to the task's (accuracy, cross-entropy, mse).
    #[arg(long, value_enum)]
    metric: Option<MetricArg>,
    /// Worker threads (the result does not depend on it).
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    /// Score only the first N examples (quick checks; the receipt says how many).
    #[arg(long)]
    limit: Option<u64>,
    /// The base model a LoRA adapter (--model) applies to: the bounty's base,
    /// checked against the hash the adapter names.
    #[arg(long)]
    base: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MetricArg {
    Accuracy,
    CrossEntropy,
    Mse,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Metric {
        match m {
            MetricArg::Accuracy => Metric::Accuracy,
            MetricArg::CrossEntropy => Metric::CrossEntropy,
            MetricArg::Mse => Metric::Mse,
        }
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn read_key(path: &Path) -> Result<SecretKey> {
    Ok(bounties_client::read_key_file(path)?)
}

/// The hash a bounty commits to for a dataset: the SHA-256 of its file (its
/// artifact name on a coordinator); for a bundled or cut-down dataset, of
/// the file it would be written as.
fn dataset_hash(spec: &str, data: &Dataset, cut: bool) -> Result<Hash32> {
    let path = Path::new(spec);
    if !cut && path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {spec}"))?;
        return Ok(bounties::encoding::sha256(&bytes));
    }
    Ok(bounties::encoding::sha256(&data.to_bytes()))
}

fn run_scoring(args: &ScoringArgs, limits: Limits) -> Result<(Model, Dataset, Hash32, Scored)> {
    let ScoringArgs {
        model,
        dataset,
        metric,
        threads,
        limit,
        base,
    } = args;
    let (threads, limit) = (*threads, *limit);
    // The header is checked against the limits before the tensors are read.
    let model_checked = match base {
        None => Model::from_file(model, limits),
        Some(base) => {
            let read =
                |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
            Model::from_adapter(&read(base)?, &read(model)?, limits, Default::default())
        }
    }
    .with_context(|| format!("{} is not an acceptable model", model.display()))?;
    let mut data = datasets::bundled::resolve(dataset, datasets::bundled::Part::Hidden)?;
    let cut = limit.is_some_and(|n| n < data.examples());
    if let Some(n) = limit.filter(|&n| n < data.examples()) {
        let rows: Vec<usize> = (0..n as usize).collect();
        data = data.select(&rows, &format!("first {n} examples"));
    }
    let hash = dataset_hash(dataset, &data, cut)?;
    let metric = metric.map_or_else(|| score::default_metric(data.task()), Metric::from);
    let scored = score::score(&model_checked, &data, metric, threads.max(1))?;
    Ok((model_checked, data, hash, scored))
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Score {
            scoring,
            submission,
            max_parameters,
            key,
            out,
            json,
        } => {
            let limits = Limits {
                family: None,
                max_parameters,
            };
            let (m, _, data_hash, scored) = run_scoring(&scoring, limits)?;
            let key = key.as_deref().map(read_key).transpose()?;
            let signed = receipt::make(
                &scored,
                SubmissionId(submission),
                data_hash,
                m.weights_hash,
                key.as_ref(),
            );
            let text = serde_json::to_string_pretty(&signed)?;
            if let Some(out) = &out {
                std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
            }
            if json {
                println!("{text}");
            } else {
                println!("model     {} ({})", m.weights_hash, m.arch);
                println!(
                    "dataset   {} ({} examples)",
                    data_hash,
                    scored.per_example.len()
                );
                println!("score     {} ({})", scored.score, scored.score.0);
                if let bounties::message::Verdict::Scored { example_digest, .. } =
                    &signed.receipt.verdict
                {
                    println!("digest    {example_digest}");
                }
                println!(
                    "build     {} ({})",
                    signed.receipt.evaluator_build,
                    receipt::build_description()
                );
                if let Some(who) = signed.evaluator {
                    println!("signed by {who}");
                }
            }
        }
        Command::Register { bond, remote } => {
            let key = read_key(&remote.key)?;
            let client = bounties_client::Client::new(&remote.coordinator);
            client.act(&key, bounties::Action::RegisterEvaluator { bond })?;
            println!(
                "registered {} as an evaluator with a bond of {bond}",
                key.account()
            );
        }
        Command::Work {
            remote,
            cache,
            threads,
            poll,
            until_idle,
            json,
        } => work(&remote, cache, threads, poll, until_idle, json)?,
        Command::Verify {
            receipt: path,
            scoring,
        } => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let signed: SignedReceipt = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a receipt", path.display()))?;
            let (m, _, data_hash, scored) = run_scoring(&scoring, Limits::default())?;
            if signed.receipt.evaluator_build != receipt::build_id() {
                eprintln!(
                    "note: the receipt comes from another evaluator build ({})",
                    signed.receipt.evaluator_build
                );
            }
            match receipt::verify(&signed, &scored, data_hash, m.weights_hash) {
                Ok(()) => println!(
                    "ok: score {} reproduced bit for bit ({} examples)",
                    Score(scored.score.0),
                    scored.per_example.len()
                ),
                Err(diff) => bail!("receipt does not reproduce: {diff}"),
            }
        }
    }
    Ok(())
}

fn work(
    remote: &Remote,
    cache: Option<PathBuf>,
    threads: usize,
    poll: f64,
    until_idle: bool,
    json: bool,
) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use evaluator::worker::{Outcome, work_one};

    let key = read_key(&remote.key)?;
    let client = bounties_client::Client::new(&remote.coordinator);
    let cache = bounties_client::cache_dir(cache);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    // Sleep in small steps so Ctrl-C is prompt.
    let nap = |secs: f64| {
        let until = std::time::Instant::now() + Duration::from_secs_f64(secs);
        while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    eprintln!(
        "evaluator {} working for {} (build {})",
        key.account(),
        client.url(),
        receipt::build_id()
    );
    let mut chain_id: Option<String> = None;
    let mut backoff = 0.5f64;
    while !stop.load(Ordering::SeqCst) {
        let chain = match &chain_id {
            Some(c) => c.clone(),
            None => match client.info() {
                Ok(info) => chain_id.insert(info.chain_id).clone(),
                Err(e) => {
                    eprintln!("waiting for the coordinator: {e}");
                    nap(backoff);
                    backoff = (backoff * 2.0).min(30.0);
                    continue;
                }
            },
        };
        match work_one(&client, &key, &chain, &cache, threads) {
            Ok(Some(outcome)) => {
                backoff = 0.5;
                match outcome {
                    Outcome::Scored {
                        submission,
                        bounty,
                        score,
                    } if json => println!(
                        "{}",
                        serde_json::json!({"event": "scored", "submission": submission, "bounty": bounty, "score": score})
                    ),
                    Outcome::Scored {
                        submission,
                        bounty,
                        score,
                    } => println!(
                        "scored submission {submission} of bounty {bounty}: {} (receipt posted)",
                        Score(score)
                    ),
                    Outcome::Confirmed { submission, bounty } if json => println!(
                        "{}",
                        serde_json::json!({"event": "confirmed", "submission": submission, "bounty": bounty})
                    ),
                    Outcome::Confirmed { submission, bounty } => println!(
                        "audited submission {submission} of bounty {bounty}: the final finding stands"
                    ),
                    Outcome::Unscorable {
                        submission,
                        bounty,
                        reason,
                        detail,
                    } if json => println!(
                        "{}",
                        serde_json::json!({"event": "unscorable", "submission": submission, "bounty": bounty, "reason": reason, "detail": detail})
                    ),
                    Outcome::Unscorable {
                        submission,
                        bounty,
                        reason,
                        detail,
                    } => println!(
                        "submission {submission} of bounty {bounty} is unscorable ({reason}): {detail} (receipt posted)"
                    ),
                }
            }
            Ok(None) if until_idle => break,
            Ok(None) => nap(poll),
            Err(e) if e.is_transport() => {
                eprintln!("coordinator unreachable, retrying in {backoff:.1} s: {e}");
                nap(backoff);
                backoff = (backoff * 2.0).min(30.0);
            }
            Err(e) => {
                eprintln!("job failed: {e}");
                nap(poll);
            }
        }
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("stopped");
    }
    Ok(())
}
