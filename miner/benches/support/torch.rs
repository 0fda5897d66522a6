//! How a bench runs one of the miner's PyTorch scripts: the interpreter
//! `TORCH_PYTHON` names (a virtual environment's with torch), or `python3`.

use std::process::Command;

/// `python SCRIPT`, for `miner/scripts/SCRIPT`: the source tree's copy, or
/// one beside the working directory when the bench binary was carried to
/// another machine.
pub fn command(script: &str) -> Command {
    let in_tree = format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let path = [in_tree, format!("miner/scripts/{script}")]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| format!("miner/scripts/{script}"));
    let python = std::env::var("TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut command = Command::new(python);
    command.arg(path);
    command
}
