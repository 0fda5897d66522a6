//! `sim`: run the market simulation for a seed and print what it did.

use anyhow::Result;
use bounties_sim::{SimConfig, run};
use clap::Parser;

/// Run the deterministic market simulation. A failure prints its seed and
/// the command that replays it.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The seed (default: drawn from the clock, and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Operations to run.
    #[arg(long, default_value_t = 100_000)]
    ops: u64,
    /// Chance that an append meets a storage fault.
    #[arg(long, default_value_t = 0.01)]
    fault_rate: f64,
    /// Chance per step that the node crashes.
    #[arg(long, default_value_t = 0.0005)]
    crash_rate: f64,
    /// Chance that a client's answer is lost.
    #[arg(long, default_value_t = 0.05)]
    drop_rate: f64,
    /// Honest evaluators.
    #[arg(long, default_value_t = 4)]
    honest: usize,
    /// Colluding evaluators.
    #[arg(long, default_value_t = 2)]
    colluding: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    for (name, p) in [
        ("--fault-rate", args.fault_rate),
        ("--crash-rate", args.crash_rate),
        ("--drop-rate", args.drop_rate),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&p),
            "{name} must be between 0 and 1, got {p}"
        );
    }
    println!("seed {seed}, {} operations", args.ops);
    let cfg = SimConfig {
        fault_rate: args.fault_rate,
        crash_rate: args.crash_rate,
        drop_rate: args.drop_rate,
        honest_evaluators: args.honest,
        colluding_evaluators: args.colluding,
        ..SimConfig::new(seed, args.ops)
    };
    let started = std::time::Instant::now();
    let report = run(cfg)?;
    println!("{}", bounties_sim::summary(&report));
    println!("{:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
