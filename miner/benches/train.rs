//! Training throughput: the miner's candle step beside PyTorch's CPU step of the
//! very same models (`miner/scripts/torch_bench.py`), same thread count, one run.
//!
//! mlp 64→256→256→10, batch 64 (samples/s); gpt 4 layers, width 128, 4 heads,
//! context 64, batch 16 (tokens/s). The PyTorch half runs where `torch` is
//! installed (`pip install torch`; `TORCH_PYTHON` names the interpreter, say
//! a virtual environment's); otherwise only our figures print.
//! Run: `cargo bench -p miner --bench train`.

// A bench is a shell: it reads the clock and runs a process.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bounties::spec::Task;
use candle_core::{Device, Tensor};
use miner::model::Params;
use miner::optim::AdamW;
use miner::train::step;

#[path = "support/torch.rs"]
mod torch;

/// As in the `miner` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn throughput(arch: &str, task: Task, x: &Tensor, y: &Tensor, units: usize) -> f64 {
    let params = Params::init(&arch.parse().unwrap(), "bench", &Device::Cpu).unwrap();
    let mut opt = AdamW::new(params.vars(), 1e-3, 0.01).unwrap();
    for _ in 0..3 {
        step(&params, &mut opt, task, x, y).unwrap();
    }
    let steps = 20;
    let t = Instant::now();
    for _ in 0..steps {
        step(&params, &mut opt, task, x, y).unwrap();
    }
    (steps * units) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    miner::runtime::configure_cpu();
    // candle sizes its pools from RAYON_NUM_THREADS (else the CPUs this process
    // may run on); PyTorch gets the same number.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let dev = Device::Cpu;
    let xs: Vec<f32> = (0..64 * 64)
        .map(|i| ((i * 37) % 17) as f32 / 17.0)
        .collect();
    let x = Tensor::from_vec(xs, (64, 64), &dev).unwrap();
    let y = Tensor::from_vec((0..64u32).map(|i| i % 10).collect::<Vec<_>>(), 64, &dev).unwrap();
    let mlp = throughput("mlp:64,256,256,10", Task::Classification, &x, &y, 64);
    let ids: Vec<u32> = (0..16 * 64).map(|i| (i * 7 % 96) as u32).collect();
    let x = Tensor::from_vec(ids.clone(), (16, 64), &dev).unwrap();
    let y = Tensor::from_vec(
        ids.iter().map(|i| (i + 1) % 96).collect::<Vec<_>>(),
        (16, 64),
        &dev,
    )
    .unwrap();
    let gpt = throughput(
        "gpt:vocab=96,context=64,layers=4,width=128,heads=4",
        Task::LanguageModel,
        &x,
        &y,
        16 * 64,
    );

    let torch = torch::command("torch_bench.py")
        .arg(threads.to_string())
        .output();
    let (t_mlp, t_gpt) = match torch {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            };
            (get("mlp "), get("gpt "))
        }
        _ => (None, None),
    };
    println!("threads: {threads}");
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "", "miner", "pytorch", "ratio"
    );
    for (label, ours, theirs, unit) in [
        ("mlp 64-256-256-10, batch 64", mlp, t_mlp, "samples/s"),
        (
            "gpt 4x128, 4 heads, context 64, batch 16",
            gpt,
            t_gpt,
            "tokens/s",
        ),
    ] {
        match theirs {
            Some(t) => println!(
                "{label:<44} {ours:>12.0} {t:>12.0} {:>7.2}x  ({unit})",
                ours / t
            ),
            None => println!(
                "{label:<44} {ours:>12.0} {:>12} {:>8}  ({unit}; torch not installed)",
                "-", "-"
            ),
        }
    }
}
