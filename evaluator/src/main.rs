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
    Verify {
        /// The receipt file (JSON, as `score --out` writes it).
        receipt: PathBuf,
        #[command(flatten)]
        scoring: ScoringArgs,
    },
}

/// What to score, shared by `score` and `verify`.
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
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    SecretKey::from_hex_seed(&text).with_context(|| {
        format!(
            "{}: a key file holds the seed as 64 hex characters",
            path.display()
        )
    })
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
    } = args;
    let (threads, limit) = (*threads, *limit);
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let model_checked = Model::from_bytes(&bytes, limits)
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
                println!("digest    {}", signed.receipt.example_digest);
                println!("build     {}", signed.receipt.evaluator_build);
                if let Some(who) = signed.evaluator {
                    println!("signed by {who}");
                }
            }
        }
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
