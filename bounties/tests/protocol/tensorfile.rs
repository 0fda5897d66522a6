//! Hostile safetensors files: each is refused with its own error, never a panic.

use bounties::tensorfile::{Dtype, TensorData, TensorFile, TensorFileError, write};
use std::collections::BTreeMap;

/// A file from a raw header string and a data section.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn code(e: &TensorFileError) -> &'static str {
    match e {
        TensorFileError::TooShort(_) => "too_short",
        TensorFileError::HeaderSize { .. } => "header_size",
        TensorFileError::HeaderJson(_) => "header_json",
        TensorFileError::TooManyTensors => "too_many_tensors",
        TensorFileError::DuplicateKey(_) => "duplicate_key",
        TensorFileError::BadName(_) => "bad_name",
        TensorFileError::UnknownDtype { .. } => "unknown_dtype",
        TensorFileError::BadShape(_) => "bad_shape",
        TensorFileError::SizeMismatch { .. } => "size_mismatch",
        TensorFileError::BadOffsets(_) => "bad_offsets",
        TensorFileError::TrailingBytes(_) => "trailing_bytes",
        TensorFileError::BadMetadata => "bad_metadata",
        TensorFileError::Write(_) => "write",
    }
}

#[test]
fn malformed_files_are_refused_with_their_reason() {
    let t = |name: &str, dtype: &str, shape: &str, a: u64, b: u64| {
        format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{a},{b}]}}"#)
    };
    let ok = t("w", "F32", "[2]", 0, 8);
    let many: String = (0..20_000)
        .map(|i| t(&format!("t{i}"), "U8", "[0]", 0, 0))
        .collect::<Vec<_>>()
        .join(",");
    let mut huge_len = (u64::MAX).to_le_bytes().to_vec();
    huge_len.extend_from_slice(b"{}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", vec![], "too_short"),
        ("seven bytes", vec![0; 7], "too_short"),
        ("header length u64::MAX", huge_len, "header_size"),
        (
            "header longer than file",
            {
                let mut v = 100u64.to_le_bytes().to_vec();
                v.extend_from_slice(b"{}");
                v
            },
            "header_size",
        ),
        ("header not JSON", raw("not json", &[]), "header_json"),
        ("header a JSON array", raw("[1,2]", &[]), "header_json"),
        (
            "truncated JSON",
            raw(r#"{"w":{"dtype":"F32""#, &[]),
            "header_json",
        ),
        (
            "unknown field",
            raw(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#,
                &[0; 8],
            ),
            "header_json",
        ),
        (
            "negative shape",
            raw(&format!("{{{}}}", t("w", "F32", "[-2]", 0, 8)), &[0; 8]),
            "header_json",
        ),
        (
            "too many tensors",
            raw(&format!("{{{many}}}"), &[]),
            "too_many_tensors",
        ),
        (
            "duplicate key",
            raw(&format!("{{{ok},{ok}}}"), &[0; 8]),
            "duplicate_key",
        ),
        (
            "empty name",
            raw(&format!("{{{}}}", t("", "F32", "[2]", 0, 8)), &[0; 8]),
            "bad_name",
        ),
        (
            "path in name",
            raw(
                &format!("{{{}}}", t("../etc/passwd", "F32", "[2]", 0, 8)),
                &[0; 8],
            ),
            "bad_name",
        ),
        (
            "backslash in name",
            raw(&format!("{{{}}}", t("a\\\\b", "F32", "[2]", 0, 8)), &[0; 8]),
            "bad_name",
        ),
        (
            "control char in name",
            raw(
                &format!("{{{}}}", t("a\\u0007b", "F32", "[2]", 0, 8)),
                &[0; 8],
            ),
            "bad_name",
        ),
        (
            "reserved name",
            raw(
                &format!("{{{}}}", t("__evil__", "F32", "[2]", 0, 8)),
                &[0; 8],
            ),
            "bad_name",
        ),
        (
            "long name",
            raw(
                &format!("{{{}}}", t(&"n".repeat(300), "F32", "[2]", 0, 8)),
                &[0; 8],
            ),
            "bad_name",
        ),
        (
            "unknown dtype",
            raw(&format!("{{{}}}", t("w", "F8_E4M3", "[2]", 0, 2)), &[0; 2]),
            "unknown_dtype",
        ),
        (
            "rank 9",
            raw(
                &format!("{{{}}}", t("w", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1)),
                &[0; 1],
            ),
            "bad_shape",
        ),
        (
            "shape overflows",
            raw(
                &format!("{{{}}}", t("w", "F32", "[4294967296,4294967296]", 0, 8)),
                &[0; 8],
            ),
            "bad_shape",
        ),
        (
            "shape needs more bytes",
            raw(&format!("{{{}}}", t("w", "F32", "[3]", 0, 8)), &[0; 8]),
            "size_mismatch",
        ),
        (
            "offsets reversed",
            raw(&format!("{{{}}}", t("w", "F32", "[2]", 8, 0)), &[0; 8]),
            "bad_offsets",
        ),
        (
            "offsets past the end",
            raw(&format!("{{{}}}", t("w", "F32", "[2]", 0, 8)), &[0; 4]),
            "bad_offsets",
        ),
        (
            "overlapping tensors",
            raw(
                &format!(
                    "{{{},{}}}",
                    t("a", "F32", "[2]", 0, 8),
                    t("b", "F32", "[2]", 4, 12)
                ),
                &[0; 12],
            ),
            "bad_offsets",
        ),
        (
            "hole between tensors",
            raw(
                &format!(
                    "{{{},{}}}",
                    t("a", "F32", "[1]", 0, 4),
                    t("b", "F32", "[1]", 8, 12)
                ),
                &[0; 12],
            ),
            "bad_offsets",
        ),
        (
            "bytes after the tensors",
            raw(&format!("{{{ok}}}"), &[0; 12]),
            "trailing_bytes",
        ),
        (
            "a key twice inside __metadata__",
            raw(
                &format!(
                    r#"{{"__metadata__":{{"Architecture":"mlp:2,2","Architecture":"gpt"}},{ok}}}"#
                ),
                &[0; 8],
            ),
            "bad_metadata",
        ),
        (
            "a field twice inside a tensor entry",
            raw(
                r#"{"w":{"dtype":"F32","shape":[2],"shape":[1],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "header_json",
        ),
        (
            "__metadata__ twice",
            raw(
                &format!(r#"{{"__metadata__":{{"a":"1"}},"__metadata__":{{"a":"2"}},{ok}}}"#),
                &[0; 8],
            ),
            "duplicate_key",
        ),
        (
            "metadata not an object",
            raw(&format!(r#"{{"__metadata__":[1],{ok}}}"#), &[0; 8]),
            "bad_metadata",
        ),
        (
            "metadata not strings",
            raw(&format!(r#"{{"__metadata__":{{"a":1}},{ok}}}"#), &[0; 8]),
            "bad_metadata",
        ),
        (
            "metadata value too large",
            raw(
                &format!(
                    r#"{{"__metadata__":{{"a":"{}"}},{ok}}}"#,
                    "x".repeat(70_000)
                ),
                &[0; 8],
            ),
            "bad_metadata",
        ),
    ];
    assert!(cases.len() >= 20);
    for (label, bytes, expected) in cases {
        match TensorFile::parse(&bytes) {
            Ok(_) => panic!("{label}: accepted"),
            Err(e) => assert_eq!(code(&e), expected, "{label}: {e}"),
        }
    }
}

#[test]
fn the_writer_refuses_what_the_reader_would() {
    let data = [0u8; 8];
    let meta = BTreeMap::new();
    let bad = [
        TensorData {
            name: "w",
            dtype: Dtype::F32,
            shape: vec![3],
            data: &data,
        },
        TensorData {
            name: "a/b",
            dtype: Dtype::F32,
            shape: vec![2],
            data: &data,
        },
    ];
    for t in bad {
        assert!(write(&meta, std::slice::from_ref(&t)).is_err());
    }
    let twice = TensorData {
        name: "w",
        dtype: Dtype::F32,
        shape: vec![2],
        data: &data,
    };
    assert!(write(&meta, &[twice.clone(), twice]).is_err());
}
