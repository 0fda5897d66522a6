//! Bad input over real sockets: forged, replayed and malformed messages,
//! bad uploads, path tricks, slow and greedy clients. Each gets a clear 4xx
//! (or a dropped connection) and changes nothing.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bounties::{Action, Amount, Message, Params, SecretKey, encoding};
use coordinator::node::Config;
use serde_json::{Value, json};

fn post_raw(url: &str, body: &str) -> (u16, Value) {
    let mut res = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&format!("{url}/v1/messages"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = res.status().as_u16();
    let v = res.body_mut().read_json().unwrap_or(Value::Null);
    (status, v)
}

fn signed_json(m: &Message, key: &SecretKey) -> String {
    let s = m.sign(key);
    json!({"message": hex::encode(&s.message), "signature": s.signature.to_hex()}).to_string()
}

#[test]
fn bad_messages_get_a_clear_4xx_and_change_nothing() {
    let s = support::serve(&["alice", "bob", "mallory"], Params::default());
    let alice = s.key("alice");
    let bob = s.key("bob").account();
    let transfer = |nonce| Message {
        chain_id: s.chain_id.clone(),
        signer: alice.account(),
        nonce,
        action: Action::Transfer {
            to: bob,
            amount: Amount(10),
        },
    };
    // One good transfer, so there is something to replay.
    let good = signed_json(&transfer(1), alice);
    assert_eq!(post_raw(&s.url, &good).0, 200);
    let root = s.client.info().unwrap().state_root;

    let forged = signed_json(&transfer(2), s.key("mallory"));
    let mut wrong_chain = transfer(2);
    wrong_chain.chain_id = "other-chain".into();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("forged", forged, 422, "bad_signature"),
        ("replayed", good.clone(), 422, "bad_nonce"),
        (
            "other chain",
            signed_json(&wrong_chain, alice),
            422,
            "wrong_chain",
        ),
        (
            "malformed JSON",
            "{\"message\": ".into(),
            400,
            "bad_request",
        ),
        (
            "unknown field",
            {
                let mut v: Value = serde_json::from_str(&good).unwrap();
                v["extra"] = json!(1);
                v.to_string()
            },
            400,
            "bad_request",
        ),
        (
            "not hex",
            json!({"message": "zz", "signature": "00"}).to_string(),
            400,
            "bad_request",
        ),
        (
            "garbage bytes",
            json!({"message": "deadbeef", "signature": "00".repeat(64)}).to_string(),
            422,
            "malformed",
        ),
        (
            "over 2 MB",
            json!({"message": "00".repeat(1_100_000), "signature": "00".repeat(64)}).to_string(),
            413,
            "too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, v) = post_raw(&s.url, &body);
        assert_eq!(got, status, "{what}: {v}");
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(
            s.client.info().unwrap().state_root,
            root,
            "{what} changed the state"
        );
    }
}

#[test]
fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let config = Config {
        max_artifact_bytes: 64 * 1024,
        ..Config::default()
    };
    let s = support::serve_with(&["alice"], Params::default(), config);
    let artifacts = s.data_dir().artifacts();
    let tmp = s.data_dir().tmp();
    let model = support::model("m");
    let hash = encoding::sha256(&model);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let raw = |request: &[u8]| -> String {
        let mut conn = TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(request).unwrap();
        let mut out = String::new();
        let _ = conn.read_to_string(&mut out);
        out
    };
    let put = |path: &str, body: &[u8], declared: usize| -> String {
        let mut req = format!(
            "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {declared}\r\n{}connection: close\r\n\r\n",
            support::auth_headers(&s, "alice", "PUT", path)
        )
        .into_bytes();
        req.extend_from_slice(body);
        raw(&req)
    };
    let wrong = put(
        &format!("/v1/artifacts/{}", encoding::sha256(b"x")),
        &model,
        model.len(),
    );
    assert!(
        wrong.starts_with("HTTP/1.1 400") && wrong.contains("hash_mismatch"),
        "{wrong}"
    );
    // A body cut off by a dropped connection: the server sees the end of the
    // stream before the declared length.
    {
        let path = format!("/v1/artifacts/{hash}");
        let mut conn = TcpStream::connect(&addr).unwrap();
        let req = format!(
            "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n{}\r\n",
            model.len(),
            support::auth_headers(&s, "alice", "PUT", &path)
        );
        conn.write_all(req.as_bytes()).unwrap();
        conn.write_all(&model[..1000]).unwrap();
    }
    let big = vec![0u8; 70 * 1024];
    let oversized = put(
        &format!("/v1/artifacts/{}", encoding::sha256(&big)),
        &big,
        big.len(),
    );
    assert!(
        oversized.starts_with("HTTP/1.1 413") && oversized.contains("too_large"),
        "{oversized}"
    );
    // Streamed without a length, the cap still holds.
    let chunked = {
        let path = format!("/v1/artifacts/{}", encoding::sha256(&big));
        let mut req = format!(
            "PUT {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n{}connection: close\r\n\r\n",
            support::auth_headers(&s, "alice", "PUT", &path)
        )
        .into_bytes();
        for part in big.chunks(8192) {
            req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            req.extend_from_slice(part);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        raw(&req)
    };
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    let not_safetensors = b"hello world, not a model".to_vec();
    let bad = put(
        &format!("/v1/artifacts/{}", encoding::sha256(&not_safetensors)),
        &not_safetensors,
        not_safetensors.len(),
    );
    assert!(
        bad.starts_with("HTTP/1.1 422") && bad.contains("bad_artifact"),
        "{bad}"
    );
    for trick in [
        "/v1/artifacts/..%2F..%2Fetc%2Fpasswd",
        "/v1/artifacts/ABCDEF",
        &format!("/v1/artifacts/{}", hash.to_hex().to_uppercase()),
    ] {
        let got = put(trick, &model, model.len());
        assert!(
            got.starts_with("HTTP/1.1 400") && got.contains("bad_hash"),
            "{trick}: {got}"
        );
    }
    let traversal =
        raw(b"GET /v1/artifacts/../../etc/passwd HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert!(
        traversal.starts_with("HTTP/1.1 404") || traversal.starts_with("HTTP/1.1 400"),
        "{traversal}"
    );
    // Unsigned uploads are refused too.
    let unsigned = raw(format!("PUT /v1/artifacts/{hash} HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc").as_bytes());
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        support::files_under(&artifacts),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(support::files_under(&tmp), Vec::<std::path::PathBuf>::new());

    // And the good upload lands.
    let ok = put(&format!("/v1/artifacts/{hash}"), &model, model.len());
    assert!(ok.starts_with("HTTP/1.1 201"), "{ok}");
    assert_eq!(
        support::files_under(&artifacts).len(),
        2,
        "the file and its owners note"
    );
    assert_eq!(support::files_under(&tmp), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_client_that_sends_headers_slowly_is_dropped() {
    let config = Config {
        header_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let s = support::serve_with(&[], Params::default(), config);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    conn.write_all(b"GET /v1/info HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // Dribble a header byte every 300 ms; never finish.
    let mut dropped = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(300));
        if conn.write_all(b"x").is_err() {
            dropped = true;
            break;
        }
        let mut buf = [0u8; 512];
        conn.set_nonblocking(true).unwrap();
        let r = conn.read(&mut buf);
        conn.set_nonblocking(false).unwrap();
        match r {
            Ok(_) => {
                dropped = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                dropped = true;
                break;
            }
        }
    }
    assert!(
        dropped,
        "the server kept a slow client for {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(11),
        "{:?}",
        started.elapsed()
    );
    // The default keeps the documented bound.
    assert!(Config::default().header_timeout <= Duration::from_secs(11));
}

#[test]
fn one_client_cannot_hold_more_than_its_upload_slots() {
    let config = Config {
        uploads_per_client: 2,
        ..Config::default()
    };
    let s = support::serve_with(&["alice"], Params::default(), config);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let model = support::model("slots");
    let path = format!("/v1/artifacts/{}", encoding::sha256(&model));
    let open_upload = || {
        let mut conn = TcpStream::connect(&addr).unwrap();
        let req = format!(
            "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n{}\r\n",
            model.len(),
            support::auth_headers(&s, "alice", "PUT", &path)
        );
        conn.write_all(req.as_bytes()).unwrap();
        conn.write_all(&model[..100]).unwrap();
        conn
    };
    let held: Vec<TcpStream> = (0..2).map(|_| open_upload()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = open_upload();
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = third.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(
        text.starts_with("HTTP/1.1 429") && text.contains("too_many_uploads"),
        "{text}"
    );
    drop(held);
}
