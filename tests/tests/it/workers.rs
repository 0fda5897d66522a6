//! Long-running clients against a coordinator that restarts or a network
//! that drops answers: `evaluator work` carries on and stops on Ctrl-C;
//! `miner submit` retried after a lost answer neither fails nor submits twice.

#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::support::Chain;

#[test]
fn evaluator_work_survives_a_coordinator_restart_and_stops_on_ctrl_c() {
    let mut c = Chain::start(&["sponsor", "alice", "eve"]);
    c.ok(
        "evaluator",
        &["register", "--key", &c.key_path("eve"), "--bond", "2000"],
    );
    let mut worker = c
        .command("evaluator")
        .args([
            "work",
            "--key",
            &c.key_path("eve"),
            "--poll",
            "0.2",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A short deadline: evaluators are given jobs only once submissions end.
    let id = c.open_digits("30s", &[]);
    // The coordinator goes away and comes back on the same address.
    c.kill();
    std::thread::sleep(Duration::from_millis(1500));
    c.serve();
    let model = c.train("alice", id, "a", "3");
    c.ok(
        "miner",
        &[
            "submit",
            &model,
            "--bounty",
            &id.to_string(),
            "--key",
            &c.key_path("alice"),
        ],
    );
    let client = c.client();
    c.wait_for("eve's receipt", || {
        let v: Value = client
            .get(&format!("/v1/bounties/{id}/leaderboard"))
            .unwrap();
        v["rows"][0]["receipts"].as_u64() == Some(1)
    });
    let _ = Command::new("kill")
        .args(["-INT", &worker.id().to_string()])
        .status();
    let status = worker.wait().unwrap();
    assert!(status.success(), "Ctrl-C is a clean stop");
    let mut out = String::new();
    worker
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    worker
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(out.contains("scored submission"), "{out}");
    assert!(
        err.contains("unreachable") || err.contains("waiting for the coordinator"),
        "it noticed the restart: {err}"
    );
    assert!(err.trim_end().ends_with("stopped"), "{err}");
}

/// A proxy that forwards everything but drops the answer to the first
/// `POST /v1/messages` after the coordinator has handled it.
fn dropping_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let armed = Arc::new(AtomicBool::new(true));
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let sabotaged = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (armed, flag) = (Arc::clone(&armed), Arc::clone(&sabotaged));
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].starts_with(b"POST /v1/messages")
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        flag.store(true, Ordering::SeqCst);
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 || sabotaged.load(Ordering::SeqCst) {
                        let _ = c_out.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_submit_whose_answer_is_lost_is_retried_without_submitting_twice() {
    let c = Chain::start(&["sponsor", "alice"]);
    let id = c.open_digits("10m", &[]);
    let model = c.train("alice", id, "a", "3");
    let proxy = dropping_proxy(c.url.trim_start_matches("http://").to_owned());
    let out = c
        .command("miner")
        .env("BOUNTY_COORDINATOR", &proxy)
        .args([
            "submit",
            &model,
            "--bounty",
            &id.to_string(),
            "--key",
            &c.key_path("alice"),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["submission"].as_u64().is_some(), "{v}");
    // Run again, as a user would after an error: it reports, it does not resubmit.
    let again = c.json(
        "miner",
        &[
            "submit",
            &model,
            "--bounty",
            &id.to_string(),
            "--key",
            &c.key_path("alice"),
            "--json",
        ],
    );
    assert_eq!(again["already_submitted"], true);
    assert_eq!(again["submission"], v["submission"]);
    let bounty = c.bounty(id);
    assert_eq!(bounty.submissions.len(), 1);
    assert_eq!(bounty.bounty.submissions, 1);
}
