//! Write a seeded random-weight model file.
//!
//! Run: `cargo run -p evaluator --example synthetic_model -- ARCH SEED OUT`
//! e.g. `... -- mlp:64,32,10 s1 /tmp/m.safetensors`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arch, seed, out] = args.as_slice() else {
        return Err("usage: synthetic_model ARCH SEED OUT".into());
    };
    let arch: bounties::arch::Architecture = arch.parse()?;
    std::fs::write(out, evaluator::synthetic::model_file(&arch, seed))?;
    Ok(())
}
