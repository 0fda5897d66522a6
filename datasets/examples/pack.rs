//! Write a bundled dataset's public and hidden parts as dataset files.
//!
//! Run: `cargo run -p datasets --example pack -- NAME OUT_DIR [SEED]`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: pack NAME OUT_DIR [SEED]".into());
    };
    let seed = args
        .next()
        .unwrap_or_else(|| datasets::bundled::DEFAULT_SEED.to_owned());
    let split = datasets::bundled::split(&name, &seed)?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    for (part, d) in [("train", &split.train), ("hidden", &split.hidden)] {
        let path = out.join(format!("{name}-{part}.safetensors"));
        d.write_file(&path)?;
        println!("{} {}", d.id(), path.display());
    }
    Ok(())
}
