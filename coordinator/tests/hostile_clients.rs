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
        "the file and its uploader's marker"
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

/// Send `head`, then one byte of the declared body every `every`, until the
/// server answers; returns the answer and how long it took.
fn trickle(addr: &str, head: &str, every: Duration) -> (String, Duration) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let started = Instant::now();
    conn.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    while started.elapsed() < Duration::from_secs(30) {
        let mut buf = [0u8; 1024];
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => {}
        }
        std::thread::sleep(every);
        if conn.write_all(b"x").is_err() {
            break;
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn a_body_that_trickles_in_is_cut_off_at_its_deadline() {
    let config = Config {
        body_deadline: Duration::from_secs(2),
        body_idle_timeout: Duration::from_secs(30),
        upload_min_bytes_per_sec: 1 << 20,
        ..Config::default()
    };
    let s = support::serve_with(&["alice"], Params::default(), config);
    let addr = s.url.trim_start_matches("http://").to_owned();
    // A JSON body declared at 100 bytes, sent one byte every 400 ms: the idle
    // timeout never fires; the whole-body deadline does.
    let (answer, took) = trickle(
        &addr,
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
        Duration::from_millis(400),
    );
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
    // An upload gets the deadline plus its size at the slowest rate: 2 s for 1 kB here.
    let model = support::model("slow");
    let path = format!("/v1/artifacts/{}", encoding::sha256(&model));
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n{}\r\n",
        model.len(),
        support::auth_headers(&s, "alice", "PUT", &path)
    );
    let (answer, took) = trickle(&addr, &head, Duration::from_millis(400));
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(
        support::files_under(&s.data_dir().tmp()),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn one_address_cannot_hold_more_than_its_connections() {
    let config = Config {
        connections_per_client: 8,
        ..Config::default()
    };
    let s = support::serve_with(&[], Params::default(), config);
    let addr = s.url.trim_start_matches("http://").to_owned();
    // Eight silent connections from 127.0.0.1 fill its allowance.
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = TcpStream::connect(&addr).unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let mut buf = [0u8; 64];
    let closed = matches!(ninth.read(&mut buf), Ok(0) | Err(_));
    assert!(
        closed,
        "the ninth connection from one address is closed unread"
    );
    // Another address is served meanwhile.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let other = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    });
    let mut other = other.into_std().unwrap();
    other.set_nonblocking(false).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = other.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Once the first address lets go, it is served again.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(&addr).unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = again.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn an_oversized_receipt_is_refused_and_changes_nothing() {
    let s = support::serve(&["sponsor", "alice", "eve"], Params::default());
    let c = &s.client;
    let support::Opened {
        bounty,
        hidden: hidden_hash,
        deadline,
    } = support::open_digits(&s, 1);
    let (sub, _, weights) = support::submit_model(&s, "alice", bounty, "w");
    support::register(&s, "eve");
    s.clock.set(deadline + 1);
    s.tick();
    let root = c.info().unwrap().state_root;
    let receipt_of = |n: usize| {
        let scores = vec![0i64; n];
        bounties::Receipt {
            submission: bounties::SubmissionId(sub),
            dataset: hidden_hash,
            evaluator_build: evaluator::receipt::build_id(),
            verdict: bounties::message::Verdict::Scored {
                weights_hash: weights,
                score: bounties::Score(0),
                example_digest: encoding::example_scores_digest(&scores),
                example_scores: scores,
            },
        }
    };
    // 100 000 scores (800 kB) where the bounty committed to its hidden set's count.
    let receipt = receipt_of(100_000);
    let err = c
        .act(s.key("eve"), Action::PostReceipt(receipt))
        .unwrap_err();
    assert_eq!(err.code(), Some("wrong_example_count"), "{err}");
    assert_eq!(c.info().unwrap().state_root, root);
    // Past the message cap (1 MiB, which is also about the JSON body cap of
    // 2 MiB of hex) it never reaches the ledger.
    let big = Message {
        chain_id: s.chain_id.clone(),
        signer: s.key("eve").account(),
        nonce: 3,
        action: Action::PostReceipt(receipt_of(140_000)),
    };
    let (status, v) = post_raw(&s.url, &signed_json(&big, s.key("eve")));
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{v}"
    );
    assert_eq!(c.info().unwrap().state_root, root);
}

#[test]
fn an_empty_signed_put_of_a_stored_hash_makes_nobody_an_owner() {
    let s = support::serve(&["alice", "mallory"], Params::default());
    let model = support::model("private");
    let hash = s.upload("alice", "private", &model);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let path = format!("/v1/artifacts/{hash}");
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n{}connection: close\r\n\r\n",
        support::auth_headers(&s, "mallory", "PUT", &path)
    );
    conn.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("hash_mismatch"),
        "{answer}"
    );
    let dest = support::tmp_path(&s, "stolen");
    let err = s
        .client
        .download(Some(s.key("mallory")), &s.chain_id, &hash, &dest)
        .unwrap_err();
    assert_eq!(err.code(), Some("forbidden"), "{err}");
    // Sending the whole file again does make the sender an uploader.
    s.upload("mallory", "private-again", &model);
    s.client
        .download(Some(s.key("mallory")), &s.chain_id, &hash, &dest)
        .unwrap();
}
