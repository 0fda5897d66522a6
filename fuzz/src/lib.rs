//! What each fuzz target checks, one function per target (`fuzz_targets/`
//! holds only the libFuzzer entry points).
//!
//! Every function takes hostile bytes and must not panic, hang or allocate
//! by a size the bytes claim; where a decoder promises more (strict decoding
//! re-encodes to the same bytes, a rejected entry changes nothing, no route
//! answers 5xx) the function asserts that too, so a broken promise is a crash.

use std::path::Path;

use bounties::chain::{Chain, Wallet};
use bounties::encoding::{self, sha256};
use bounties::message::verify_signed;
use bounties::spec::*;
use bounties::tensorfile::{TensorFile, TensorHeader};
use bounties::*;

mod api;
mod fixture;

pub use api::api;

/// The safetensors reader: the streamed header check and the whole-file
/// parse agree, and every tensor's bytes lie inside the file.
pub fn tensorfile(data: &[u8]) {
    let whole = TensorFile::parse(data);
    let header = TensorHeader::parse(data, data.len() as u64);
    assert_eq!(whole.is_ok(), header.is_ok(), "the two readers disagree");
    if let Ok(file) = whole {
        for info in &file.tensors {
            assert!(info.range.end <= data.len(), "a tensor past the end");
            let _ = file.f32_values(info);
        }
        let _ = file.weights_hash();
        if let Some(tag) = file.metadata.get(arch::ARCHITECTURE_TAG) {
            if let Ok(a) = tag.parse::<arch::Architecture>() {
                // One spelling per architecture: the tag is what Display writes.
                assert_eq!(&a.to_string(), tag);
                let _ = a.check_tensors(&file.tensors);
                let _ = a.parameter_count();
            }
        }
    }
    // A file longer than its prefix: the header check must not read past it.
    if data.len() > 8 {
        let _ = TensorHeader::parse(&data[..data.len() / 2], data.len() as u64 * 2);
    }
}

/// Messages and signed messages: strict decoding (what decodes re-encodes to
/// the same bytes), signature verification, and the JSON form clients post.
pub fn message(data: &[u8]) {
    if let Ok(m) = encoding::decode::<Message>(data) {
        assert_eq!(
            encoding::encode(&m),
            data,
            "a non-canonical message decoded"
        );
        let _ = m.action.name();
    }
    // A signed message: a 64-byte signature, then the message's bytes.
    if let Some((signature, bytes)) = data.split_first_chunk::<64>() {
        let signature = Signature(*signature);
        for verify in [Verify::Signatures, Verify::Skip] {
            if let Ok(m) = verify_signed(fixture::CHAIN, 1 << 20, bytes, &signature, verify) {
                assert_eq!(
                    encoding::encode(&m),
                    bytes,
                    "verified bytes that are not canonical"
                );
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // The JSON forms clients post.
        let _ = serde_json::from_str::<SignedMessage>(text);
        let _ = serde_json::from_str::<Message>(text);
    }
}

/// Entries and the state machine. The first byte picks the mode:
/// - even: the bytes are an `Entry`, decoded strictly and replayed after
///   the fixture's genesis (signatures checked);
/// - odd: byte 1 picks a known signer, bytes 2..6 a time step, the rest is an
///   `Action` applied (signatures skipped) to a state with open, ended and
///   scored bounties; the state must stay conserved, and a rejection must
///   leave its root unchanged.
pub fn entry(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture::state();
    if mode % 2 == 0 {
        if let Ok(entry) = encoding::decode::<Entry>(rest) {
            assert_eq!(encoding::encode(&entry), rest);
            let _ = entry.hash();
            let entries = [fx.genesis.clone(), entry];
            let _ = bounties::log::verify_chain(&entries);
            let _ = bounties::replay::replay(&entries, Verify::Signatures, |_, _| {});
        }
        return;
    }
    if rest.len() < 5 {
        return;
    }
    let signer = &fx.keys[usize::from(rest[0]) % fx.keys.len()];
    let step = u64::from(u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]));
    let Ok(action) = encoding::decode::<Action>(&rest[5..]) else {
        return;
    };
    let state = fx.chain.state();
    let head = state.head();
    let wallet = Wallet::new(
        signer.clone(),
        fixture::CHAIN,
        state.nonce(&signer.account()),
    );
    let signed = wallet.message(action).sign(signer);
    let entry = Entry::next(
        head.seq,
        head.hash,
        TimestampMs(head.timestamp.0 + step * 1000),
        signed,
    );
    let root = state.root();
    match state.applied(&entry, Verify::Skip) {
        Ok(next) => {
            next.check_conservation()
                .expect("conservation after an entry");
            assert_eq!(next.head().seq, head.seq + 1);
        }
        Err(rejection) => {
            let _ = rejection.code();
            assert_eq!(state.root(), root, "a rejected entry changed the state");
        }
    }
}

/// Dataset files: a parsed dataset passes its own checks and writes back to
/// a file that parses to the same id.
pub fn dataset(data: &[u8]) {
    let Ok(ds) = datasets::Dataset::from_bytes(data, "fuzz.safetensors") else {
        return;
    };
    ds.check().expect("a parsed dataset passes its checks");
    let _ = ds.summary();
    let _ = ds.sequences();
    let _ = ds.class_counts();
    if ds.inputs.rows() <= 4096 {
        let _ = ds.inputs_f32();
    }
    let again = datasets::Dataset::from_bytes(&ds.to_bytes(), "again").expect("rewritten");
    assert_eq!(again.id(), ds.id());
}

/// CSV (plain or gzip), with the options picked by the first byte.
pub fn csv(data: &[u8]) {
    use datasets::csv::{CsvOptions, LabelColumn, load_csv};
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let label = match opts % 4 {
        0 => LabelColumn::First,
        1 => LabelColumn::Last,
        2 => LabelColumn::Index(usize::from(opts >> 4)),
        _ => LabelColumn::Name("label".into()),
    };
    let header = match (opts >> 2) % 3 {
        0 => None,
        1 => Some(true),
        _ => Some(false),
    };
    let task = if opts & 0x80 == 0 {
        Task::Classification
    } else {
        Task::Regression
    };
    let o = CsvOptions {
        label,
        header,
        task,
        name: "fuzz".into(),
        licence: "CC0-1.0".into(),
        source: "fuzz".into(),
    };
    if let Ok(ds) = load_csv(rest, "fuzz.csv", &o) {
        ds.check().expect("a loaded CSV passes the dataset checks");
    }
}

/// IDX arrays, alone and as an images + labels pair (split at byte 0's share).
pub fn idx(data: &[u8]) {
    use datasets::idx::{load_idx, parse_idx};
    let _ = parse_idx(data, "fuzz.idx");
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let at = rest.len() * usize::from(cut) / 256;
    let (images, labels) = rest.split_at(at);
    if let Ok(ds) = load_idx(
        (images, "images.idx"),
        (labels, "labels.idx"),
        "fuzz",
        "CC0-1.0",
        "fuzz",
    ) {
        ds.check()
            .expect("a loaded IDX pair passes the dataset checks");
    }
}

/// Plain text for language models and labelled texts (TSV or CSV) tokenised
/// with a small WordPiece, options from the first byte.
pub fn text(data: &[u8]) {
    use datasets::labelled::{LabelledOptions, Provenance, load_labelled, tokenise};
    use datasets::text::{TextOptions, load_text};
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let t = TextOptions {
        context: u32::from(opts % 16),
        vocabulary: datasets::text::ascii_vocabulary(),
        name: "fuzz".into(),
        licence: "CC0-1.0".into(),
        source: "fuzz".into(),
    };
    if let Ok(ds) = load_text(rest, "fuzz.txt", &t) {
        ds.check().expect("a loaded text passes the dataset checks");
    }
    let mut l = LabelledOptions::for_file(if opts & 1 == 0 { "x.tsv" } else { "x.csv" });
    if opts & 2 != 0 {
        l.classes = vec!["neg".into(), "pos".into()];
    }
    if let Ok(texts) = load_labelled(rest, "fuzz.tsv", &l) {
        let (wordpiece, json) = fixture::wordpiece();
        let provenance = Provenance {
            name: "fuzz".into(),
            license: "CC0-1.0".into(),
            source: "fuzz".into(),
        };
        let length = usize::from(opts >> 2).max(1);
        if let Ok(ds) = tokenise(&texts, wordpiece, json, length, &provenance) {
            ds.check().expect("tokenised texts pass the dataset checks");
        }
    }
}

/// `tokenizer.json` files, and a parsed tokenizer on the input as text.
pub fn tokenizer(data: &[u8]) {
    use datasets::wordpiece::WordPiece;
    if let Ok(w) = WordPiece::from_json(data, "tokenizer.json") {
        let text = String::from_utf8_lossy(data);
        let _ = w.tokenize(&text);
        let ids = w.encode(&text, 16);
        assert!(ids.len() <= 16);
    }
    let (small, _) = fixture::wordpiece();
    let text = String::from_utf8_lossy(data);
    let ids = small.encode(&text, 64);
    assert!((2..=64).contains(&ids.len()), "{} ids", ids.len());
}

/// Bounty specs: the sponsor's TOML (`bounty open`) and the spec's own TOML form.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = toml::from_str::<BountySpec>(text) {
        let _ = spec.check();
        let back = encoding::decode::<BountySpec>(&encoding::encode(&spec)).expect("round trip");
        assert_eq!(back, spec);
    }
    let _ = bounty_cli::spec_file::SpecFile::parse(text, Path::new("/nonexistent-fuzz-dir"));
}

/// The signed-request headers (`x-bounty-account`, `-timestamp`, `-signature`):
/// the input is split into the three values and a path; a request the fuzzer
/// cannot sign must never be accepted.
pub fn signed_request(data: &[u8]) {
    use axum::http::{HeaderMap, HeaderValue};
    use bounties::auth::{HEADER_ACCOUNT, HEADER_SIGNATURE, HEADER_TIMESTAMP};
    let fx = fixture::state();
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut headers = HeaderMap::new();
    for name in [HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        if let Some(v) = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, v);
        }
    }
    let path = parts
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let now = fx.chain.state().head().timestamp.0;
    let guard = coordinator::auth::ReplayGuard::new(now - 1_000, 16);
    let checked = std::pin::pin!(coordinator::auth::signer(
        &headers,
        fx.chain.state(),
        "GET",
        &path,
        now,
        &guard
    ));
    // The in-memory guard answers at once: one poll, no runtime.
    let std::task::Poll::Ready(checked) =
        checked.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    else {
        panic!("the in-memory replay guard never waits");
    };
    if let Ok(Some(account)) = checked {
        // Only a real signature by a known key can get here; the fuzzer
        // holds no key, so reaching it is a forgery.
        panic!("an unsigned request was accepted as {account}");
    }
}

/// `sha256` of the input, so a target's seeds can be named by content.
pub fn seed_name(data: &[u8]) -> String {
    sha256(data).to_hex()[..16].to_owned()
}

/// A spec for fixtures and seeds: accuracy on 4 examples, winner-take-all.
pub fn fixture_spec(title: &str, deadline_ms: u64) -> BountySpec {
    fixture::spec(title, deadline_ms)
}

/// The fixture chain (for seeds).
pub fn fixture_chain() -> &'static Chain {
    &fixture::state().chain
}

/// The fixture's keys: sponsor, miner, three evaluators, operator (for seeds).
pub fn fixture_keys() -> &'static [SecretKey] {
    &fixture::state().keys
}

/// The fixture's small tokenizer file (for seeds).
pub fn fixture_tokenizer_json() -> &'static [u8] {
    &fixture::wordpiece().1
}
