//! The real binary: crash it with `kill -9` under 64 concurrent writers and
//! check that nothing acknowledged is lost; stream a 1 GB upload through it
//! in bounded memory.

#![allow(clippy::disallowed_methods)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bounties::{Action, Amount, Entry, Hash32, Message, SecretKey};
use bounties_client::Client;
use coordinator::store::postgres::scratch::ScratchDatabase;
use serde_json::Value;
use support::binary::{
    BIN, chain_with_alice, chain_with_alice_in, coordinator, next, seed, serve, serve_logging_to,
    upload_1_gb, whole_log,
};

#[test]
fn kill_9_under_64_writers_loses_nothing_acknowledged() {
    kill_9_rounds(false, 5);
}

#[test]
fn kill_9_under_64_writers_loses_nothing_acknowledged_on_postgres() {
    kill_9_rounds(true, 3);
}

/// `rounds` times: a fresh chain (its log in SQLite, or in a scratch
/// PostgreSQL database), 64 writers, `kill -9`, restart.
fn kill_9_rounds(postgres: bool, rounds: usize) {
    let seed = seed("CRASH_SEED");
    println!("crash seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = seed;
    for round in 0..rounds {
        let db = postgres.then(|| ScratchDatabase::create().unwrap());
        let store: Vec<&str> = match &db {
            Some(db) => vec!["--store", db.url()],
            None => vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let names: Vec<String> = (0..64).map(|i| format!("c{i}")).collect();
        let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--dev"];
        args.extend(names.iter().map(String::as_str));
        args.extend(&store);
        coordinator(&args);
        let keys: Vec<SecretKey> = names
            .iter()
            .map(|n| {
                coordinator::datadir::DataDir::read_key(
                    &data.join("keys/dev").join(format!("{n}.key")),
                )
                .unwrap()
            })
            .collect();
        let (mut child, url) = serve(&data, &store);
        let chain_id = Client::new(&url).info().unwrap().chain_id;
        let acked: Arc<Mutex<Vec<(u64, Hash32)>>> = Arc::default();
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let key = keys[i].clone();
                let to = keys[(i + 1) % 64].account();
                let (url, chain_id, acked) = (url.clone(), chain_id.clone(), Arc::clone(&acked));
                std::thread::spawn(move || {
                    let client = Client::new(&url);
                    for nonce in 1.. {
                        let m = Message {
                            chain_id: chain_id.clone(),
                            signer: key.account(),
                            nonce,
                            action: Action::Transfer {
                                to,
                                amount: Amount(1),
                            },
                        };
                        match client.send(&m.sign(&key)) {
                            Ok(a) => acked.lock().unwrap().push((a.seq, a.hash)),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        let delay = 300 + next(&mut rng) % 1200;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in writers {
            w.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: nothing was acknowledged in {delay} ms"
        );

        let (mut child, url) = serve(&data, &store);
        let client = Client::new(&url);
        let info = client.info().unwrap();
        let log = whole_log(&client);
        for (seq, hash) in &acked {
            let entry = log.get(*seq as usize).unwrap_or_else(|| {
                panic!(
                    "round {round}: acknowledged seq {seq} is missing (head {})",
                    info.head.seq
                )
            });
            assert_eq!(
                entry.hash(),
                *hash,
                "round {round}: seq {seq} holds another entry"
            );
        }
        bounties::log::verify_chain(&log).unwrap();
        let mut audit = vec!["audit", "--data-dir", data.to_str().unwrap(), "--json"];
        audit.extend(&store);
        let audit = coordinator(&audit);
        let report: Value = serde_json::from_slice(&audit.stdout).unwrap();
        assert_eq!(
            report["state_root"].as_str().unwrap(),
            info.state_root.to_hex()
        );
        assert_eq!(report["head_seq"].as_u64().unwrap(), info.head.seq);
        println!(
            "round {round}: killed after {delay} ms, {} acknowledged, head {}, audit agrees",
            acked.len(),
            info.head.seq
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn a_1_gb_upload_streams_in_bounded_memory() {
    let (_dir, data, key) = chain_with_alice();
    let (mut child, url) = serve(&data, &["--max-artifact-bytes", "2000000000"]);
    let (hash, size) = upload_1_gb(&mut child, &url, &key);
    let stored = data
        .join("artifacts")
        .join(&hash.to_hex()[..2])
        .join(hash.to_hex());
    assert_eq!(std::fs::metadata(stored).unwrap().len(), size);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn audit_and_start_up_detect_an_altered_stored_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    coordinator(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--dev",
        "alice",
        "bob",
    ]);
    let alice = coordinator::datadir::DataDir::read_key(&data.join("keys/dev/alice.key")).unwrap();
    let bob = coordinator::datadir::DataDir::read_key(&data.join("keys/dev/bob.key")).unwrap();
    let (mut child, url) = serve(&data, &[]);
    let client = Client::new(&url);
    for _ in 0..4 {
        client
            .act(
                &alice,
                Action::Transfer {
                    to: bob.account(),
                    amount: Amount(5),
                },
            )
            .unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let ok = coordinator(&["audit", "--data-dir", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok: 5 entries"));

    // Raise the amount of the transfer at seq 2 in the stored bytes.
    let db = rusqlite::Connection::open(data.join("log.sqlite")).unwrap();
    let bytes: Vec<u8> = db
        .query_row("SELECT bytes FROM entries WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let mut entry: Entry = bounties::encoding::decode(&bytes).unwrap();
    let mut message: Message = bounties::encoding::decode(&entry.message).unwrap();
    message.action = Action::Transfer {
        to: bob.account(),
        amount: Amount(500),
    };
    entry.message = bounties::encoding::encode(&message);
    db.execute(
        "UPDATE entries SET bytes = ?1 WHERE seq = 2",
        rusqlite::params![entry.encode()],
    )
    .unwrap();
    drop(db);

    let out = Command::new(BIN)
        .args(["audit", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("divergence at entry 2"), "{err}");
    let out = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the server must refuse an altered log"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("entry 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_signed_request_is_not_accepted_again_after_a_restart() {
    replayed_after_restart(&[]);
    // On PostgreSQL the guard is a table: it outlives the process.
    let db = ScratchDatabase::create().unwrap();
    replayed_after_restart(&["--store", db.url()]);
}

fn replayed_after_restart(store: &[&str]) {
    let (dir, data, alice) = chain_with_alice_in(store);
    let (mut child, url) = serve(&data, store);
    let client = Client::new(&url);
    let chain_id = client.info().unwrap().chain_id;
    // A private artifact of alice's: only signed requests of hers may read it.
    let file = dir.path().join("private.safetensors");
    let arch: bounties::arch::Architecture = "mlp:2,2".parse().unwrap();
    std::fs::write(&file, evaluator::synthetic::model_file(&arch, "private")).unwrap();
    let hash = client.upload(&alice, &chain_id, &file).unwrap().hash;
    let path = format!("/v1/artifacts/{hash}");
    let ts = bounties_client::request_timestamp_ms();
    let sig = bounties::auth::sign_request(&alice, &chain_id, "GET", &path, ts);
    let get = |url: &str| -> u16 {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(&format!("{url}{path}"))
            .header("x-bounty-account", alice.account().to_hex())
            .header("x-bounty-timestamp", ts.to_string())
            .header("x-bounty-signature", sig.to_hex())
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(&url), 200);
    assert_eq!(get(&url), 401, "replayed at once");
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (mut child, url) = serve(&data, store);
    assert_eq!(get(&url), 401, "replayed after a restart");
    // A fresh signature still works.
    let dest = dir.path().join("got");
    Client::new(&url)
        .download(Some(&alice), &chain_id, &hash, &dest)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn json_logs_carry_each_request_in_a_span_with_its_status_and_latency() {
    let (_dir, data, _alice) = chain_with_alice();
    let (mut child, url) = serve_logging_to(&data, &["--log-format", "json"], Stdio::piped());
    let client = Client::new(&url);
    client.info().unwrap();
    let missing = client.bounty(bounties::BountyId(77)).unwrap_err();
    assert_eq!(missing.code(), Some("not_found"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered: Vec<&Value> = events
        .iter()
        .filter(|e| e["fields"]["message"] == "answered")
        .collect();
    let find = |route: &str| {
        answered
            .iter()
            .find(|e| e["span"]["route"] == route)
            .unwrap_or_else(|| panic!("no log line for {route}: {stderr}"))
    };
    let info = find("/v1/info");
    assert_eq!(info["fields"]["status"], 200);
    assert!(info["fields"]["latency_ms"].is_number());
    assert_eq!(info["span"]["method"], "GET");
    let bounty = find("/v1/bounties/{id}");
    assert_eq!(bounty["fields"]["status"], 404);
    assert_ne!(info["span"]["id"], bounty["span"]["id"]);
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "replayed the log")
    );
}
