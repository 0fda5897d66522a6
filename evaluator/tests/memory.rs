//! The evaluator refuses a model over a bounty's parameter cap after reading
//! its header alone: under a 512 MB address-space limit, a 1.07 GB model is
//! refused with the cap's own message, not an allocation failure.

#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::Command;

/// A sparse safetensors file for `mlp:16384,16384,10`: a real header, 1.07 GB of zeros.
fn huge_model(path: &std::path::Path) -> u64 {
    let (w0, b0, w1, b1) = (16384u64 * 16384, 16384u64, 10u64 * 16384, 10u64);
    let mut at = 0u64;
    let mut next = |n: u64| {
        let range = (at, at + 4 * n);
        at += 4 * n;
        range
    };
    let (r0, r1, r2, r3) = (next(w0), next(b0), next(w1), next(b1));
    let header = format!(
        r#"{{"__metadata__":{{"Architecture":"mlp:16384,16384,10"}},"layers.0.weight":{{"dtype":"F32","shape":[16384,16384],"data_offsets":[{},{}]}},"layers.0.bias":{{"dtype":"F32","shape":[16384],"data_offsets":[{},{}]}},"layers.1.weight":{{"dtype":"F32","shape":[10,16384],"data_offsets":[{},{}]}},"layers.1.bias":{{"dtype":"F32","shape":[10],"data_offsets":[{},{}]}}}}"#,
        r0.0, r0.1, r1.0, r1.1, r2.0, r2.1, r3.0, r3.1
    );
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let total = 8 + header.len() as u64 + at;
    f.set_len(total).unwrap();
    total
}

#[test]
fn an_oversized_model_is_refused_from_its_header_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("huge.safetensors");
    let size = huge_model(&model);
    assert!(size > 1 << 30);
    let script = format!(
        "ulimit -v 524288; exec {} score --model {} --dataset digits --max-parameters 100000",
        env!("CARGO_BIN_EXE_evaluator"),
        model.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the model has 268615690 parameters, the bounty allows 100000"),
        "{err}"
    );
    // The message is said once, not repeated by the error chain.
    assert_eq!(err.matches("parameters").count(), 1, "{err}");
    // So is a header error.
    let short = dir.path().join("short.safetensors");
    std::fs::write(&short, [16, 0, 0, 0, 0, 0, 0, 0, b'{', b'}']).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_evaluator"))
        .args([
            "score",
            "--model",
            short.to_str().unwrap(),
            "--dataset",
            "digits",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("header of 16 bytes").count(), 1, "{err}");
}
